"""Methods under evaluation: the API (``methods.base``) and the registry (``methods.registry``).

Method modules must be importable without torch: import torch, open_clip, pyiqa
inside ``fit``/``predict`` or in a separate model module.
"""
