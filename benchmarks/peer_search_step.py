"""One PyTorch peer's search step, measured as `search_benchmark.py` measures ours.

Runs in a Python environment with PyTorch and imports the peer's own model code from a
directory the user gives (nothing of theirs is shipped or downloaded here):

* `darts`: DARTS (github.com/quark0/darts), `cnn/model_search.py`'s `Network`;
* `egs`: the official DARTS-EGS code (github.com/XinbangZhang/DATA-NAS),
  `model_search_softmax.py`'s `Network` with `sample_times` = M;
* `gdas`: GDAS (github.com/D-X-Y/AutoDL-Projects), `xautodl`'s `NASNetworkGDAS` cells in
  DARTS' 8-cell layout (reductions at 1/3 and 2/3; GDAS' own layout has 3N cells).

Their `.cuda()` calls keep tensors on the CPU (the only change). A step is the peers'
first-order search step: the architecture step on a validation batch (Adam on α) and the
weight step on a training batch (SGD with momentum 0.9, weight decay 3e-4, gradient norm
clipped to 5), both from their training scripts. Build = network and optimizers; first
step = the first step (PyTorch has nothing to trace); step = the median of the timed steps;
peak = the process' peak RSS. Prints one JSON line.

    /path/to/torch-venv/bin/python benchmarks/peer_search_step.py --peer darts \\
        --path /path/to/darts [--cells 8 --filters 16 --size 32 --batch 32 --steps 6]
"""

import argparse
import json
import os
import resource
import statistics
import sys
import time


def _no_cuda(torch):
    """`.cuda()` keeps tensors on the CPU; like the real one it returns a plain tensor for a
    parameter (the EGS code reassigns such results to module attributes every step)."""

    def tensor_cuda(self, *args, **kwargs):
        return self.view_as(self) if isinstance(self, torch.nn.Parameter) else self

    torch.Tensor.cuda = tensor_cuda
    torch.nn.Module.cuda = lambda self, *args, **kwargs: self


def _darts(torch, args):
    sys.path.insert(0, os.path.join(args.path, "cnn"))
    from model_search import Network

    criterion = torch.nn.CrossEntropyLoss()
    model = Network(args.filters, 10, args.cells, criterion)
    return model, lambda x: model(x), model.arch_parameters(), list(model.parameters())


def _egs(torch, args):
    sys.path.insert(0, args.path)
    from model_search_softmax import Network

    criterion = torch.nn.CrossEntropyLoss()
    model = Network(args.filters, 10, args.cells, criterion, sample_times=args.num_samples)
    arch = {id(p) for p in model.arch_parameters()}
    weights = [p for p in model.parameters() if id(p) not in arch]
    return model, lambda x: model(x), model.arch_parameters(), weights


def _gdas(torch, args):
    sys.path.insert(0, args.path)
    from xautodl.models.cell_operations import SearchSpaceNames
    from xautodl.models.cell_searchs import NASNetworkGDAS
    from xautodl.models.cell_searchs.search_cells import NASNetSearchCell

    space = SearchSpaceNames["darts"]
    model = NASNetworkGDAS(args.filters, 3, 4, 4, 3, 10, space, False, True)
    cells, previous = [], (3 * args.filters, 3 * args.filters)
    filters, reduction_prev = args.filters, False
    for c in range(args.cells):  # DARTS' layout, GDAS' cells
        reduction = c in (args.cells // 3, 2 * args.cells // 3)
        filters *= 2 if reduction else 1
        cells.append(NASNetSearchCell(space, 4, 4, *previous, filters, reduction,
                                      reduction_prev, False, True))
        previous, reduction_prev = (previous[1], 4 * filters), reduction
    model.cells = torch.nn.ModuleList(cells)
    model.lastact = torch.nn.Sequential(torch.nn.BatchNorm2d(previous[1]), torch.nn.ReLU())
    model.classifier = torch.nn.Linear(previous[1], 10)
    return model, lambda x: model(x)[1], model.get_alphas(), model.get_weights()


PEERS = {"darts": _darts, "egs": _egs, "gdas": _gdas}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer", choices=sorted(PEERS), required=True)
    parser.add_argument("--path", required=True, help="The peer's repository checkout.")
    parser.add_argument("--cells", type=int, default=8)
    parser.add_argument("--filters", type=int, default=16)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=6, help="Timed steps after the first.")
    parser.add_argument("--num_samples", type=int, default=7, help="M of the EGS code.")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()

    import torch

    _no_cuda(torch)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    start = time.perf_counter()
    model, logits_of, arch_parameters, weights = PEERS[args.peer](torch, args)
    criterion = torch.nn.CrossEntropyLoss()
    weight_optimizer = torch.optim.SGD(weights, 0.025, momentum=0.9, weight_decay=3e-4)
    arch_optimizer = torch.optim.Adam(arch_parameters, 3e-4, betas=(0.5, 0.999),
                                      weight_decay=1e-3)
    built = time.perf_counter() - start
    images = torch.randn(args.batch, 3, args.size, args.size)
    labels = torch.arange(args.batch) % 10

    def step():
        arch_optimizer.zero_grad()
        criterion(logits_of(images), labels).backward()
        arch_optimizer.step()
        weight_optimizer.zero_grad()
        criterion(logits_of(images), labels).backward()
        torch.nn.utils.clip_grad_norm_(weights, 5.0)
        weight_optimizer.step()

    model.train()
    times = []
    for _ in range(args.steps + 1):
        begin = time.perf_counter()
        step()
        times.append(time.perf_counter() - begin)
    print(json.dumps({
        "peer": args.peer, "torch": torch.__version__, "threads": args.threads,
        "build_s": built, "first_step_s": times[0], "step_s": statistics.median(times[1:]),
        "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}))


if __name__ == "__main__":
    main()
