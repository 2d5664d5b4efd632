import pytest
import torch

from suite.measure import device_available, peak_memory, provenance, time_fn


@pytest.mark.parametrize("mib", [16, 64])
def test_cpu_peak_memory_finds_a_known_allocation(mib):
    n = mib * 1024 * 1024 // 4

    def allocate():
        x = torch.empty(n)  # mib MiB of float32
        x.fill_(1.0)
        return float(x[0])

    measured = peak_memory(allocate, torch.device("cpu"))
    assert abs(measured - mib * 2**20) <= 0.1 * mib * 2**20


def test_peak_memory_sees_two_live_tensors_not_a_freed_one():
    n = 4 * 2**20 // 4  # 4 MiB

    def two_live():
        a = torch.ones(n)
        b = torch.ones(n)
        return a, b

    def one_at_a_time():
        for _ in range(2):
            a = torch.ones(n)
            del a

    cpu = torch.device("cpu")
    assert peak_memory(two_live, cpu) == pytest.approx(8 * 2**20, rel=0.1)
    assert peak_memory(one_at_a_time, cpu) == pytest.approx(4 * 2**20, rel=0.1)


def test_time_fn_returns_repeats():
    times = time_fn(lambda: torch.ones(100).sum(), torch.device("cpu"), warmup=1, repeats=3)
    assert len(times) == 3 and all(t > 0 for t in times)


def test_device_availability_and_provenance():
    assert device_available("cpu") is None
    assert "cuda:99" in (device_available("cuda:99") or "cuda:99") or device_available("cuda:99")
    if not torch.cuda.is_available():
        assert "not available" in device_available("cuda")
    p = provenance(torch.device("cpu"))
    assert p["torch_version"] == torch.__version__ and p["threads"] == torch.get_num_threads()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (none on this machine)")
def test_cuda_peak_memory_and_timing():
    dev = torch.device("cuda")
    n = 64 * 2**20 // 4
    measured = peak_memory(lambda: torch.empty(n, device=dev).fill_(1), dev)
    assert abs(measured - 64 * 2**20) <= 0.1 * 64 * 2**20
    assert len(time_fn(lambda: torch.ones(1000, device=dev).sum(), dev, repeats=2)) == 2


def test_cpu_peak_memory_agrees_with_the_public_profiler():
    from suite.measure import _cpu_peak_memory, _cpu_peak_memory_public

    model = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 2))
    x = torch.randn(512, 64)
    optimizer = torch.optim.Adam(model.parameters())

    def step():
        optimizer.zero_grad()
        model(x).sum().backward()
        optimizer.step()

    step()
    _cpu_peak_memory_public(step)  # the first profiled call of a process allocates once more
    assert _cpu_peak_memory(step) == _cpu_peak_memory_public(step) > 512 * 256 * 4


def test_a_keyed_peak_is_measured_once_per_key():
    cpu = torch.device("cpu")
    calls = []

    def allocate(n):
        def fn():
            calls.append(n)
            torch.empty(n, dtype=torch.uint8).fill_(1)

        return fn

    first = peak_memory(allocate(2**20), cpu, key=("test", 1))
    assert peak_memory(allocate(2**22), cpu, key=("test", 1)) == first  # not run again
    assert calls == [2**20]
    assert peak_memory(allocate(2**22), cpu, key=("test", 2)) > first
