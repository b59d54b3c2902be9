"""atheris harness for `authority`: authority.decode_cert/decode_alert_body/decode_revocation."""

from fuzz.harness import main

if __name__ == "__main__":
    main("authority")
