"""Networks: the WSL4MIS UNet and its Cross Image Matching variant."""
from .cim import CIM, CIMConfig
from .unet import UNet

__all__ = ["UNet", "CIM", "CIMConfig"]
