"""atheris harness for `udp`: transport.udpwire.decode + arq sender/receiver."""

from fuzz.harness import main

if __name__ == "__main__":
    main("udp")
