"""atheris harness for `keyfile`: crypto.keyfile.load_identity."""

from fuzz.harness import main

if __name__ == "__main__":
    main("keyfile")
