"""atheris harness for `ble`: ble_profile.parse_service_data + decode_info."""

from fuzz.harness import main

if __name__ == "__main__":
    main("ble")
