"""atheris harness for `config`: config.load_config."""

from fuzz.harness import main

if __name__ == "__main__":
    main("config")
