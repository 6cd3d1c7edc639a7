"""larq2mcu's local PlatformIO platform: QEMU-emulated boards, Debian toolchains, no downloads."""
from platformio.public import PlatformBase


class L2mqemuPlatform(PlatformBase):
    """Toolchains come from symlink:// packages (larq2mcu.platformio.ensure_offline_core) or PATH."""
