"""Where DRAW's glimpses start, measured: T = 16, 10 000 training digits of binarized MNIST,
batch 100, Adam 1e-3, the gradient's norm clipped to 10, a linear KL warm-up over 600 steps;
every 100 steps the mean training -ELBO and KL and the -ELBO and KL on 1000 validation
digits.

    OMP_NUM_THREADS=1 REPARAM_DATA=../shared/data python glimpse_start.py tiling 2000
    OMP_NUM_THREADS=1 REPARAM_DATA=../shared/data python glimpse_start.py default 600

``tiling``: the model as built (its heads start at ``draw_attention.tiling``); ``default``:
the read and write heads re-initialised as ``nn.Linear`` does (raw ≈ 0), the start before.
"""

import sys
import time

import torch

from reparam.experiments.vae_build import load_split
from reparam.models import DRAW

torch.set_num_threads(1)
start, steps = sys.argv[1], int(sys.argv[2])
WARMUP = 600
torch.manual_seed(0)
x = load_split("binarized-mnist", "train", None, 10000)
valid = load_split("binarized-mnist", "valid", None, 1000)
model = DRAW(28, glimpses=16)
if start == "default":
    model.read_head.reset_parameters()
    model.write_head.reset_parameters()
optimizer = torch.optim.Adam(model.parameters(), 1e-3)
began, window = time.time(), []
for step in range(1, steps + 1):
    rows = torch.randint(0, len(x), (100,))
    log_likelihood, kl = model.elbo_terms(x[rows])
    loss = -(log_likelihood - min(1.0, step / WARMUP) * kl).mean()
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
    optimizer.step()
    window.append((float(-(log_likelihood - kl).mean()), float(kl.mean())))
    if step % 100 == 0:
        with torch.no_grad():
            log_likelihood, kl = model.elbo_terms(valid)
        train = torch.tensor(window).mean(0)
        window = []
        print(
            f"{start} step {step} train -elbo {train[0]:.1f} kl {train[1]:.1f} | valid -elbo "
            f"{float(-(log_likelihood - kl).mean()):.1f} kl {float(kl.mean()):.1f} | "
            f"{time.time() - began:.0f}s",
            flush=True,
        )
