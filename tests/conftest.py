pytest_plugins = [
    "tests.fixtures.registry",
    "tests.fixtures.hf",
    "tests.fixtures.echoserver",
    "tests.fixtures.gotool",
]
