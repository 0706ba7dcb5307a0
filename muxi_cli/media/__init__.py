"""Media: what muxi does with images, documents, audio and video.

One floor below the engine and its services (docs/architecture.md, section 1):
it imports ``llm`` (the provider audio APIs) and ``protocol``, never ``core``,
``stores`` or a front end; the store it caches derived forms in comes in as a
:class:`~muxi_cli.media.types.DerivedCache`. Every heavy library (Pillow,
pdfium, OCR, ffmpeg) is imported inside the function that uses it.

- ``types``: the shared shapes (normalized bytes, extracted text, the cache).
- ``ingest``: bytes in: the type from the bytes, validation, cleaning
  (EXIF orientation applied and metadata stripped), size and bomb limits.
- ``images``, ``documents``, ``ocr``: fitting images to a model's limits,
  documents to text and page images, offline OCR.
- ``av``, ``speech``: audio and video (probe, transcript, frames), speech out.
- ``prepare``: one model request's media, turned into what that model takes.
"""
