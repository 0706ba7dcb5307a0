"""What the model answering a turn takes in media, and the checks that follow.

:class:`MediaGate` builds a :class:`~muxi_cli.media.prepare.ModelView` for an
agent's model (its media support from the provider table and the formation,
the formation's OCR fallback), refuses images for a model without vision
before anything is stored (naming the formation's models that have it), and
finds the formation's transcriber for audio and video on first use.
"""

from __future__ import annotations

import logging

from muxi_cli.config.schema import AgentConfig, Formation
from muxi_cli.core.attachments import Incoming
from muxi_cli.errors import MuxiError
from muxi_cli.llm.base import ModelResolver
from muxi_cli.media.prepare import ModelView, check_vision
from muxi_cli.media.types import Transcriber

log = logging.getLogger("muxi.agent")


class MediaGate:
    """The media side of one formation's turns (see the module docstring)."""

    def __init__(self, formation: Formation, models: ModelResolver) -> None:
        self.formation = formation
        self.models = models
        #: Speech to text for audio and video attachments: the formation's
        #: ``audio.transcribe`` model, found on first use (or set by a caller).
        #: Without one their transcripts are missing and ``media.failed`` says so.
        self.transcriber: Transcriber | None = None
        self._looked_up = False

    def hearing(self) -> Transcriber | None:
        """The transcriber (see :attr:`transcriber`)."""
        if self.transcriber is None and not self._looked_up:
            self._looked_up = True
            # deferred: the audio client loads only when a turn carries media
            from muxi_cli.llm.audio import maybe_transcriber
            from muxi_cli.llm.registry import ProviderRegistry

            if isinstance(self.models, ProviderRegistry):
                try:
                    self.transcriber = maybe_transcriber(self.formation, self.models)
                except MuxiError as exc:
                    log.warning("audio.transcribe is not usable: %s", exc.message)
        return self.transcriber

    @property
    def video(self) -> tuple[float, int]:
        """How video attachments are sampled (the formation's ``video``)."""
        return self.formation.video.fps, self.formation.video.max_frames

    def view_for(
        self, agent: AgentConfig, override: str | None = None, *, alternatives: bool = False
    ) -> ModelView:
        """What the model answering for ``agent`` takes in media; with
        ``alternatives``, also the formation's models that have vision."""
        model_ref = self.models.model_for(agent, override)
        fallback = agent.media.fallback if agent.media else self.formation.media.fallback
        support = self.models.media_support(model_ref)
        others = self._vision_models(model_ref) if alternatives else ()
        return ModelView(model_ref, support, fallback, others)

    def _vision_models(self, exclude: str) -> tuple[str, ...]:
        refs = [self.formation.default_model, *(a.model_ref for a in self.formation.agents)]
        out: list[str] = []
        for ref in refs:
            if not ref:
                continue
            try:
                ref = self.models.model_for(None, ref)
                if ref != exclude and ref not in out and self.models.media_support(ref).vision:
                    out.append(ref)
            except MuxiError:
                continue  # a model without a key is no suggestion
        return tuple(out)

    def check(self, agent: AgentConfig, override: str | None, incoming: list[Incoming]) -> None:
        """Refuse images for a model without vision before anything is stored."""
        kinds = [(i.kind, i.name) for i in incoming]
        if not any(k in ("image", "video") for k, _ in kinds):
            return
        if not self.view_for(agent, override).support.vision:
            check_vision(kinds, self.view_for(agent, override, alternatives=True))
