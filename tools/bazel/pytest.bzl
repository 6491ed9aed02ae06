"""`pytest_test`: a `py_test` that runs one pytest file of `tests/` with the project's setup."""

def pytest_test(name, src, size = "medium", tags = [], data = []):
    """One test file as a Bazel test.

    Args:
        name: the target name.
        src: the pytest file, e.g. "tests/ops/gumbel_test.py".
        size: Bazel's size (timeout class).
        tags: e.g. ["slow"] to leave it out of the fast tier.
        data: extra files the test reads.
    """
    native.py_test(
        name = name,
        srcs = ["//tools/bazel:pytest_runner.py", src],
        main = "//tools/bazel:pytest_runner.py",
        args = ["$(location %s)" % src],
        size = size,
        tags = tags,
        data = ["//:test_support"] + data,
        deps = ["//:egs_keras", "//:trainers", "//:configs"],
        python_version = "PY3",
    )
