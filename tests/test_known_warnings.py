"""Only the known-harmless warnings are silenced: the same kind of warning with another message still shows."""

import logging
import os
import warnings

from resources.known_warnings import silence_known_warnings


def test_known_warnings_are_silenced_and_others_still_show():
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        silence_known_warnings()
        warnings.warn("`is_gradient_checkpointing` is deprecated and will be removed in v6.", FutureWarning)
        warnings.warn("Function `PipesMessageReader.expected_writer_count` is currently in preview", UserWarning)
        warnings.warn("`something_else` is deprecated and will be removed in v6.", FutureWarning)
    assert [str(w.message) for w in seen] == ["`something_else` is deprecated and will be removed in v6."]


def test_the_optional_kernel_message_is_dropped_and_other_bitsandbytes_warnings_kept(caplog, monkeypatch):
    monkeypatch.delenv("TQDM_DISABLE", raising=False)  # restored afterwards: no other test sees the switch
    silence_known_warnings()
    silence_known_warnings()  # idempotent: one filter
    logger = logging.getLogger("bitsandbytes.backends.cpu.ops")
    assert len(logger.filters) == 1
    with caplog.at_level(logging.WARNING):
        logger.warning("Failed to load CPU gemm_4bit_forward from kernels-community: %s.", "No module named 'kernels'")
        logger.warning("some other bitsandbytes problem")
    assert [r.getMessage() for r in caplog.records] == ["some other bitsandbytes problem"]
    assert os.environ["TQDM_DISABLE"] == "1"
