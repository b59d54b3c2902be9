"""atheris harness for `trustfile`: crypto.trustfile.read_public_key."""

from fuzz.harness import main

if __name__ == "__main__":
    main("trustfile")
