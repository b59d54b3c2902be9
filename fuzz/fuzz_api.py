"""atheris harness for `api`: api.decode_request + decode_reply."""

from fuzz.harness import main

if __name__ == "__main__":
    main("api")
