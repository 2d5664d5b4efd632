import io

from suite.progress import LineProgress


def test_progress_off_a_terminal_is_plain_lines():
    stream = io.StringIO()
    bar = LineProgress(total=4, desc="tiny", every=0.0, file=stream)
    bar.set_postfix_str("mean · reversal · seed 0")
    bar.update(1)
    bar.update(3)
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("[ablate] tiny: 1/4 trials (25%)") and "seed 0" in lines[0]
    assert lines[-1].startswith("[ablate] tiny: 4/4 trials (100%)")
    assert "\r" not in stream.getvalue()
