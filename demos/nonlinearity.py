"""Why networks need nonlinearities: a stack of linear layers is one linear map and cannot learn XOR.

Trains the same 2-8-8-1 stack on XOR twice, seeded: without activations it collapses to a
single affine map (the product of its weight matrices, biases folded in) and gets stuck at
the best linear fit (MSE 0.25, at most 3 of 4 points right); with tanh (or ReLU) between
the layers it learns XOR exactly. Runs in a few seconds on a CPU:

    python demos/nonlinearity.py [--seed 0] [--activation tanh|relu]
"""

from __future__ import annotations

import argparse
from itertools import pairwise

import torch
from torch import nn

XOR_X = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])  # (4, 2)
XOR_Y = torch.tensor([[0.0], [1.0], [1.0], [0.0]])  # (4, 1)
WIDTHS = (2, 8, 8, 1)  # input, two hidden layers, output
ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU}


def make_stack(activation: str | None, seed: int) -> nn.Sequential:
    """Linear layers of ``WIDTHS``; ``activation`` (a key of ACTIVATIONS) between them or None."""
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(pairwise(WIDTHS)):
        layers.append(nn.Linear(a, b))
        if activation is not None and i < len(WIDTHS) - 2:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers).double()


def train_xor(net: nn.Module, steps: int = 1500, lr: float = 0.03) -> float:
    """Full-batch Adam on XOR with MSE; returns the final loss."""
    x, y = XOR_X.double(), XOR_Y.double()
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        loss = nn.functional.mse_loss(net(x), y)
        loss.backward()
        opt.step()
    with torch.no_grad():
        return nn.functional.mse_loss(net(x), y).item()


def accuracy(net: nn.Module) -> float:
    """Fraction of the four XOR points on the right side of 0.5."""
    with torch.no_grad():
        pred = net(XOR_X.double()) > 0.5
    return (pred == XOR_Y.bool()).double().mean().item()


def collapse(net: nn.Sequential) -> tuple[torch.Tensor, torch.Tensor]:
    """The single affine map x -> W x + b of a stack of Linear layers: (W (out, in), b (out,)).

    W = W_k ... W_2 W_1 and b = W_k (... (W_2 b_1 + b_2) ...) + b_k: the biases fold in.
    """
    linears = [m for m in net if isinstance(m, nn.Linear)]
    w = torch.eye(linears[0].in_features, dtype=torch.float64)
    b = torch.zeros(linears[0].in_features, dtype=torch.float64)
    for layer in linears:
        w = layer.weight.detach() @ w
        b = layer.weight.detach() @ b + layer.bias.detach()
    return w, b


def best_linear_fit() -> tuple[torch.Tensor, float]:
    """Least-squares affine fit to XOR: (coefficients [w1, w2, b], its MSE) — the linear optimum."""
    a = torch.cat([XOR_X, torch.ones(4, 1)], 1).double()
    coef = torch.linalg.lstsq(a, XOR_Y.double()).solution[:, 0]
    mse = ((a @ coef - XOR_Y.double()[:, 0]) ** 2).mean().item()
    return coef, mse


def main(seed: int = 0, activation: str = "tanh", steps: int = 1500) -> dict[str, float]:
    """Run both experiments, print the numbers, return them."""
    probe = torch.randn(1000, 2, generator=torch.Generator().manual_seed(seed)).double()

    linear = make_stack(None, seed)
    lin_loss = train_xor(linear, steps)
    w, b = collapse(linear)
    with torch.no_grad():
        collapse_err = (linear(probe) - (probe @ w.T + b)).abs().max().item()
    coef, best_mse = best_linear_fit()
    fit_err = (torch.cat([w[0], b]) - coef).abs().max().item()

    deep = make_stack(activation, seed)
    deep_loss = train_xor(deep, steps)
    wd, bd = collapse(deep)
    with torch.no_grad():
        deep_collapse_err = (deep(probe) - (probe @ wd.T + bd)).abs().max().item()

    out = {
        "linear_collapse_error": collapse_err,
        "linear_vs_least_squares": fit_err,
        "linear_loss": lin_loss,
        "least_squares_loss": best_mse,
        "linear_accuracy": accuracy(linear),
        "nonlinear_loss": deep_loss,
        "nonlinear_accuracy": accuracy(deep),
        "nonlinear_collapse_error": deep_collapse_err,
    }
    shape = "-".join(map(str, WIDTHS))
    print(f"XOR with a {shape} stack, {steps} steps of Adam, seed {seed}")
    print("\nwithout activations (Linear -> Linear -> Linear):")
    print(
        f"  collapsed map  W = W3 W2 W1 = {(w[0].numpy().round(4) + 0.0).tolist()}, b = {b.item():.4f}"
    )
    print(f"  max |stack(x) - (W x + b)| on 1000 random x = {collapse_err:.1e}  (one linear map)")
    print(f"  least-squares fit [w1, w2, b] = {(coef.numpy().round(4) + 0.0).tolist()}, ", end="")
    print(f"max difference from W, b = {fit_err:.1e}")
    print(f"  MSE {lin_loss:.4f} (best any linear map can do: {best_mse:.4f}), ", end="")
    print(f"accuracy {out['linear_accuracy']:.0%}  -> cannot learn XOR")
    print(f"\nwith {activation} between the layers:")
    print(f"  MSE {deep_loss:.4f}, accuracy {out['nonlinear_accuracy']:.0%}  -> learns XOR")
    print(f"  max |stack(x) - (W x + b)| = {deep_collapse_err:.2f}  (no longer one linear map)")
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--activation", choices=list(ACTIVATIONS), default="tanh")
    parser.add_argument("--steps", type=int, default=1500)
    args = parser.parse_args()
    main(args.seed, args.activation, args.steps)
