"""atheris harness for `reconcile`: reconcile.Message.decode + a responder session."""

from fuzz.harness import main

if __name__ == "__main__":
    main("reconcile")
