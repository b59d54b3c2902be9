"""atheris harness for `framing`: transport.framing.Reassembler.feed (fragment sequences)."""

from fuzz.harness import main

if __name__ == "__main__":
    main("framing")
