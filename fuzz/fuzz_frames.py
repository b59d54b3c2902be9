"""atheris harness for `frames`: routing.frames.decode_frame."""

from fuzz.harness import main

if __name__ == "__main__":
    main("frames")
