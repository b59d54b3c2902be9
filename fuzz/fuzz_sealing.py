"""atheris harness for `sealing`: crypto.sealing.open_dm: any plaintext, sealed."""

from fuzz.harness import main

if __name__ == "__main__":
    main("sealing")
