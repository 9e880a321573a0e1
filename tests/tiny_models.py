"""A tiny conv regressor as the retrained engine's Trainable (tests of the engine, CPU and GPU)."""


def tiny_conv_trainable():
    """Seeded conv -> pool -> linear: the conv is the 'backbone' group, the linear the 'head'."""
    import torch

    from methods.retrained.engine import Trainable

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 1)
    )
    return Trainable(net, list(net[0].parameters()), list(net[3].parameters()))
