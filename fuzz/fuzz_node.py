"""atheris harness for `node`: Node.receive: frame sequences from a peer, invariants checked."""

from fuzz.harness import main

if __name__ == "__main__":
    main("node")
