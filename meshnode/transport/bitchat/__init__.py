"""A bitchat gateway for hubs: bitchat's BLE packet format, the hub's bitchat identity, the
sans-IO alert gateway and the BlueZ side (docs/bitchat.md)."""
