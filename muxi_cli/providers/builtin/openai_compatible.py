"""Any other OpenAI-compatible server: give it a ``base_url`` under ``providers:``."""

from muxi_cli.providers.spec import Capabilities, ProviderSpec

SPEC = ProviderSpec(
    name="openai-compatible",
    display_name="Other OpenAI-compatible server",
    # Standard behaviour; its limits are asked for when it runs on this machine.
    capabilities=Capabilities(probe_limits=True),
    aliases=("compatible",),
    hint="Set providers.<name>.base_url (and preset: openai-compatible) in muxi.yaml.",
    order=90,
)
