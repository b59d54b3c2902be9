"""Loaded into python-dbusmock's `bluez5` mock with AddTemplate: what the template lacks.

This code runs inside the mock process (dbus-python, GLib main loop), not in the tests.
It adds, on the interface `org.meshnode.TestBlueZ` of the mock's root object:

* `AddServerAdapter(name, powered, roles)`: an adapter with GattManager1
  (RegisterApplication reads the application's objects back with GetManagedObjects and
  validates them, as bluetoothd does) and a stricter
  LEAdvertisingManager1 (RegisterAdvertisement reads the advertisement's properties with
  GetAll and refuses data that does not fit 31 bytes of legacy advertising). Discovery
  re-announces advertising devices (bleak only reports devices whose properties change
  while it scans), as a real adapter reports every advert it hears.
* `AddGattPeer(...)`: a remote device with well-typed advertising properties (the template
  publishes ServiceData and friends as arrays of dicts, which bleak cannot read) and a GATT
  service with read, write(-without-response), notify and AcquireWrite characteristics.
* Inspection helpers: `GetRegistrations`, `GetAdvertLog`, `ReleaseAdvertisements`.
"""

import socket

import dbus
import dbus.service
from dbusmock import mockobject

TEST_IFACE = "org.meshnode.TestBlueZ"
ADAPTER_IFACE = "org.bluez.Adapter1"
DEVICE_IFACE = "org.bluez.Device1"
SERVICE_IFACE = "org.bluez.GattService1"
CHRC_IFACE = "org.bluez.GattCharacteristic1"
GATT_MANAGER_IFACE = "org.bluez.GattManager1"
ADV_MANAGER_IFACE = "org.bluez.LEAdvertisingManager1"
ADV_IFACE = "org.bluez.LEAdvertisement1"
MONITOR_MANAGER_IFACE = "org.bluez.AdvertisementMonitorManager1"
OBJECT_MANAGER = "org.freedesktop.DBus.ObjectManager"
PROPERTIES = "org.freedesktop.DBus.Properties"
LEGACY_ADV = 31


def load(mock, parameters):
    mock.meshnode_peers = {}


def _emit_changed(obj, iface, changed):
    obj.props[iface].update(changed)
    obj.EmitSignal(PROPERTIES, "PropertiesChanged", "sa{sv}as",
                   [iface, dbus.Dictionary(changed, signature="sv"), dbus.Array([], signature="s")])


def _emit_added(path, ifaces):
    mockobject.objects["/"].EmitSignal(
        OBJECT_MANAGER, "InterfacesAdded", "oa{sa{sv}}",
        [dbus.ObjectPath(path), dbus.Dictionary(ifaces, signature="sa{sv}")])


def _reannounce(adapter):
    """Every advertising device under `adapter` is heard again."""
    for path, obj in list(mockobject.objects.items()):
        if not path.startswith(adapter.path + "/") or DEVICE_IFACE not in obj.props:
            continue
        if getattr(obj, "advertising", False) and not getattr(obj, "connected_now", False):
            props = obj.props[DEVICE_IFACE]
            _emit_changed(obj, DEVICE_IFACE, {"RSSI": dbus.Int16(props["RSSI"]),
                                              "ServiceData": props["ServiceData"]})


def _start_discovery(adapter):
    adapter.props[ADAPTER_IFACE]["Discovering"] = True
    _emit_changed(adapter, ADAPTER_IFACE, {"Discovering": dbus.Boolean(True)})
    _reannounce(adapter)


def _stop_discovery(adapter):
    adapter.props[ADAPTER_IFACE]["Discovering"] = False
    _emit_changed(adapter, ADAPTER_IFACE, {"Discovering": dbus.Boolean(False)})


def _register_monitor(adapter, path):
    adapter.monitors.append(path)
    _reannounce(adapter)


def _unregister_monitor(adapter, path):
    if path in adapter.monitors:
        adapter.monitors.remove(path)


def _fail(name, text):
    return dbus.exceptions.DBusException(text, name=name)


@dbus.service.method(GATT_MANAGER_IFACE, in_signature="oa{sv}", out_signature="",
                     sender_keyword="sender")
def RegisterApplication(adapter, path, options, sender=None):
    if (sender, path) in adapter.gatt_apps:
        raise _fail("org.bluez.Error.AlreadyExists", "Already Exists")
    remote = adapter.connection.get_object(sender, path, introspect=False)
    objects = remote.GetManagedObjects(dbus_interface=OBJECT_MANAGER, timeout=5)
    services = {p: i[SERVICE_IFACE] for p, i in objects.items() if SERVICE_IFACE in i}
    if not any(s.get("Primary") and s.get("UUID") for s in services.values()):
        raise _fail("org.bluez.Error.Failed", "No valid service object found")
    for p, ifaces in objects.items():
        chrc = ifaces.get(CHRC_IFACE)
        if chrc is None:
            continue
        if not chrc.get("UUID") or chrc.get("Service") not in services or not chrc.get("Flags"):
            raise _fail("org.bluez.Error.Failed", f"invalid characteristic {p}")
    adapter.gatt_apps[(str(sender), str(path))] = objects


@dbus.service.method(GATT_MANAGER_IFACE, in_signature="o", out_signature="",
                     sender_keyword="sender")
def UnregisterApplication(adapter, path, sender=None):
    if adapter.gatt_apps.pop((str(sender), str(path)), None) is None:
        raise _fail("org.bluez.Error.DoesNotExist", "Does Not Exist")


def _legacy_size(props):
    size = 3 if props.get("Type") == "peripheral" else 0
    for uuid_str in props.get("ServiceUUIDs", []):
        size += 2 + (2 if len(uuid_str) <= 8 else 16)
    for uuid_str, value in props.get("ServiceData", {}).items():
        size += 2 + (2 if len(uuid_str) <= 8 else 16) + len(value)
    for _, value in props.get("ManufacturerData", {}).items():
        size += 2 + 2 + len(value)
    if "LocalName" in props:
        size += 2 + len(props["LocalName"])
    return size


@dbus.service.method(ADV_MANAGER_IFACE, in_signature="oa{sv}", out_signature="",
                     sender_keyword="sender")
def RegisterAdvertisement(adapter, path, options, sender=None):
    key = (str(sender), str(path))
    if key in adapter.adverts:
        raise _fail("org.bluez.Error.AlreadyExists", "Already Exists")
    remote = adapter.connection.get_object(sender, path, introspect=False)
    props = remote.GetAll(ADV_IFACE, dbus_interface=PROPERTIES, timeout=5)
    if props.get("Type") not in ("peripheral", "broadcast"):
        raise _fail("org.bluez.Error.Failed", "bad advertisement type")
    if _legacy_size(props) > LEGACY_ADV:
        raise _fail("org.bluez.Error.InvalidLength", "Advertising data too long")
    adapter.adverts[key] = props
    adapter.advert_log.append(props)


@dbus.service.method(ADV_MANAGER_IFACE, in_signature="o", out_signature="",
                     sender_keyword="sender")
def UnregisterAdvertisement(adapter, path, sender=None):
    if adapter.adverts.pop((str(sender), str(path)), None) is None:
        raise _fail("org.bluez.Error.DoesNotExist", "Does Not Exist")


def _install(obj, iface, name, in_sig, out_sig, fn):
    obj.methods.setdefault(iface, {})[name] = (in_sig, out_sig, "", fn)


@dbus.service.method(TEST_IFACE, in_signature="sbas", out_signature="s")
def AddServerAdapter(self, name, powered, roles):
    """An adapter that appears (InterfacesAdded) in its final state, server side enabled:
    the template's AddAdapter announces it before its properties can be adjusted."""
    root = mockobject.objects["/"]
    root.EmitSignal = lambda *args: None  # hold back AddAdapter's InterfacesAdded
    try:
        path = self.AddAdapter(name, "meshnode-test")
    finally:
        del root.EmitSignal
    adapter = mockobject.objects[path]
    adapter.props[ADAPTER_IFACE]["Powered"] = dbus.Boolean(powered)
    adapter.props[ADAPTER_IFACE]["Roles"] = dbus.Array(roles, signature="s")
    _enable_server(adapter)
    _emit_added(path, adapter.props)
    return path


def _enable_server(adapter):
    adapter.gatt_apps = {}
    adapter.adverts = {}
    adapter.advert_log = []
    adapter.props.setdefault(GATT_MANAGER_IFACE, {})  # bluetoothd lists it, property-less
    for name, in_sig, fn in (("RegisterApplication", "oa{sv}", RegisterApplication),
                             ("UnregisterApplication", "o", UnregisterApplication)):
        _install(adapter, GATT_MANAGER_IFACE, name, in_sig, "", fn)
    for name, in_sig, fn in (("RegisterAdvertisement", "oa{sv}", RegisterAdvertisement),
                             ("UnregisterAdvertisement", "o", UnregisterAdvertisement)):
        _install(adapter, ADV_MANAGER_IFACE, name, in_sig, "", fn)
    adapter.AddMethods(ADAPTER_IFACE, [("StartDiscovery", "", "", _start_discovery),
                                       ("StopDiscovery", "", "", _stop_discovery)])
    adapter.AddMethods(MONITOR_MANAGER_IFACE, [("RegisterMonitor", "o", "", _register_monitor),
                                               ("UnregisterMonitor", "o", "",
                                                _unregister_monitor)])


@dbus.service.method(TEST_IFACE, in_signature="o", out_signature="a(so)a(so)")
def GetRegistrations(self, adapter_path):
    adapter = mockobject.objects[adapter_path]
    return (dbus.Array(sorted(adapter.gatt_apps), signature="(so)"),
            dbus.Array(sorted(adapter.adverts), signature="(so)"))


@dbus.service.method(TEST_IFACE, in_signature="o", out_signature="aa{sv}")
def GetAdvertLog(self, adapter_path):
    return dbus.Array(mockobject.objects[adapter_path].advert_log, signature="a{sv}")


@dbus.service.method(TEST_IFACE, in_signature="o", out_signature="")
def ReleaseAdvertisements(self, adapter_path):
    """What bluetoothd does when it drops advertisements (adapter reset)."""
    adapter = mockobject.objects[adapter_path]
    for sender, path in list(adapter.adverts):
        del adapter.adverts[(sender, path)]
        remote = adapter.connection.get_object(sender, path, introspect=False)
        remote.Release(dbus_interface=ADV_IFACE, ignore_reply=True)


# --- a remote GATT peer ---------------------------------------------------------------------


def _device_connect(device):
    if getattr(device, "refuse", False):
        raise _fail("org.bluez.Error.Failed", "Connection refused (111)")
    device.connected_now = True
    _emit_changed(device, DEVICE_IFACE, {"Connected": dbus.Boolean(True)})
    _emit_changed(device, DEVICE_IFACE, {"ServicesResolved": dbus.Boolean(True)})


def _device_disconnect(device):
    device.connected_now = False
    for sock in device.acquired:
        sock.close()
    device.acquired.clear()
    tx = mockobject.objects.get(device.path + "/service000a/char000d")
    if tx is not None and tx.props[CHRC_IFACE].get("Notifying"):
        _emit_changed(tx, CHRC_IFACE, {"Notifying": dbus.Boolean(False)})
    _emit_changed(device, DEVICE_IFACE, {"ServicesResolved": dbus.Boolean(False),
                                         "Connected": dbus.Boolean(False)})


def _device_of(char):
    return mockobject.objects[char.path.rsplit("/", 2)[0]]


def _write_value(char, value, options):
    device = _device_of(char)
    if not getattr(device, "connected_now", False):
        raise _fail("org.bluez.Error.NotConnected", "Not Connected")


def _read_value(char, options):
    return dbus.Array(char.props[CHRC_IFACE]["Value"], signature="y")


def _acquire_write(char, options):
    device = _device_of(char)
    if not getattr(device, "connected_now", False):
        raise _fail("org.bluez.Error.NotConnected", "Not Connected")
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    device.acquired.append(ours)
    fd = dbus.types.UnixFd(theirs)
    theirs.close()
    return (fd, dbus.UInt16(device.acquire_mtu))


def _start_notify(char):
    _emit_changed(char, CHRC_IFACE, {"Notifying": dbus.Boolean(True)})


def _stop_notify(char):
    _emit_changed(char, CHRC_IFACE, {"Notifying": dbus.Boolean(False)})


@dbus.service.method(TEST_IFACE, in_signature="ssaynqbqsayb", out_signature="s")
def AddGattPeer(self, adapter_name, address, service_data, rssi, mtu, mtu_property,
                acquire_mtu, service_uuid, token_value, token_writable):
    """A connectable device advertising `service_data` under `service_uuid` (or, if it is
    empty, only `service_uuid` in its UUID list: the "uuid" profile), with our GATT
    service; RX carries an MTU property of `mtu` if `mtu_property`, AcquireWrite answers
    `acquire_mtu`; a TOKEN characteristic (read, and write unless not `token_writable`;
    every meshnode device serves both) reads `token_value`, or if that is empty the token of
    `service_data` as a device that can connect. Returns the device path."""
    from meshnode.transport.ble_profile import (
        INFO_UUID,
        RX_UUID,
        TOKEN_UUID,
        TX_UUID,
        AdvertError,
        Info,
        encode_info,
        encode_token_value,
        parse_service_data,
    )

    path = self.AddDevice(adapter_name, address, "")
    device = mockobject.objects[path]
    device.acquired = []
    device.acquire_mtu = int(acquire_mtu)
    device.advertising = True
    device.refuse = False
    advertised = {service_uuid: dbus.Array(service_data, signature="y")} if service_data else {}
    fixed = {
        "ServiceData": dbus.Dictionary(advertised, signature="sv"),
        "UUIDs": dbus.Array([] if service_data else [service_uuid], signature="s"),
        "ManufacturerData": dbus.Dictionary({}, signature="qv"),
        "AdvertisingFlags": dbus.Array([dbus.Byte(6)], signature="y"),
        "AdvertisingData": dbus.Dictionary({}, signature="yv"),
        "Alias": dbus.String(address.replace(":", "-")),  # no name: bleak reports None
        "AddressType": dbus.String("random"),
        "RSSI": dbus.Int16(rssi),
    }
    _emit_changed(device, DEVICE_IFACE, fixed)
    device.AddMethods(DEVICE_IFACE, [("Connect", "", "", _device_connect),
                                     ("Disconnect", "", "", _device_disconnect)])
    service_path = path + "/service000a"
    self.AddObject(service_path, SERVICE_IFACE, {
        "UUID": dbus.String(service_uuid),
        "Device": dbus.ObjectPath(path),
        "Primary": dbus.Boolean(True),
        "Includes": dbus.Array([], signature="o"),
    }, [])
    _emit_added(service_path, mockobject.objects[service_path].props)
    chars = (
        ("char000b", INFO_UUID, ["read"], encode_info(Info()),
         [("ReadValue", "a{sv}", "ay", _read_value)]),
        ("char000c", RX_UUID, ["write-without-response", "write"], b"",
         [("WriteValue", "aya{sv}", "", _write_value),
          ("AcquireWrite", "a{sv}", "hq", _acquire_write)]),
        ("char000d", TX_UUID, ["notify"], b"",
         [("StartNotify", "", "", _start_notify), ("StopNotify", "", "", _stop_notify)]),
    )
    if not token_value:
        try:
            token_value = encode_token_value(parse_service_data(bytes(service_data)),
                                             central=True)
        except AdvertError:
            token_value = b""
    token_methods = [("ReadValue", "a{sv}", "ay", _read_value)]
    if token_writable:
        token_methods.append(("WriteValue", "aya{sv}", "", _write_value))
    chars += (("char000e", TOKEN_UUID, ["read", "write"] if token_writable else ["read"],
               bytes(token_value), token_methods),)
    for name, uuid, flags, value, methods in chars:
        char_path = f"{service_path}/{name}"
        props = {
            "UUID": dbus.String(uuid),
            "Service": dbus.ObjectPath(service_path),
            "Flags": dbus.Array(flags, signature="s"),
            "Value": dbus.Array(value, signature="y"),
        }
        if "notify" in flags:
            props["Notifying"] = dbus.Boolean(False)
        if "write-without-response" in flags:
            props["WriteAcquired"] = dbus.Boolean(False)
            if mtu_property:
                props["MTU"] = dbus.UInt16(mtu)
        self.AddObject(char_path, CHRC_IFACE, props, [])
        mockobject.objects[char_path].AddMethods(CHRC_IFACE, methods)
        _emit_added(char_path, mockobject.objects[char_path].props)
    return path


@dbus.service.method(TEST_IFACE, in_signature="sb", out_signature="")
def SetRefuse(self, device_path, refuse):
    """Make Connect fail (as a radio that aborts the connection does)."""
    mockobject.objects[device_path].refuse = bool(refuse)


@dbus.service.method(TEST_IFACE, in_signature="say", out_signature="")
def Readvertise(self, device_path, service_data):
    """The device advertises new service data (a new epoch)."""
    device = mockobject.objects[device_path]
    uuid = next(iter(device.props[DEVICE_IFACE]["ServiceData"]))
    _emit_changed(device, DEVICE_IFACE, {
        "ServiceData": dbus.Dictionary({uuid: dbus.Array(service_data, signature="y")},
                                       signature="sv")})


@dbus.service.method(TEST_IFACE, in_signature="sss", out_signature="s")
def AddBitchatPhone(self, adapter_name, address, service_uuid):
    """A phone running bitchat: it advertises `service_uuid` (in UUIDs, as iOS and Android
    do) and serves one characteristic (read, write, write-without-response, notify) whose
    UUID is bitchat's. Writes are only recorded (GetMethodCalls); a test makes the phone
    notify with UpdateProperties on the characteristic's Value. Returns the device path."""
    from meshnode.transport.bitchat.radio import CHARACTERISTIC_UUID

    path = self.AddDevice(adapter_name, address, "")
    device = mockobject.objects[path]
    device.acquired = []
    device.refuse = False
    _emit_changed(device, DEVICE_IFACE, {
        "UUIDs": dbus.Array([service_uuid], signature="s"),
        "AddressType": dbus.String("random"),
        "RSSI": dbus.Int16(-55),
    })
    device.AddMethods(DEVICE_IFACE, [("Connect", "", "", _device_connect),
                                     ("Disconnect", "", "", _device_disconnect)])
    service_path = path + "/service0010"
    self.AddObject(service_path, SERVICE_IFACE, {
        "UUID": dbus.String(service_uuid), "Device": dbus.ObjectPath(path),
        "Primary": dbus.Boolean(True), "Includes": dbus.Array([], signature="o"),
    }, [])
    _emit_added(service_path, mockobject.objects[service_path].props)
    char_path = service_path + "/char0011"
    self.AddObject(char_path, CHRC_IFACE, {
        "UUID": dbus.String(CHARACTERISTIC_UUID), "Service": dbus.ObjectPath(service_path),
        "Flags": dbus.Array(["read", "write", "write-without-response", "notify"],
                            signature="s"),
        "Value": dbus.Array([], signature="y"), "Notifying": dbus.Boolean(False),
    }, [])
    mockobject.objects[char_path].AddMethods(CHRC_IFACE, [
        ("ReadValue", "a{sv}", "ay", _read_value),
        ("WriteValue", "aya{sv}", "", _write_value),
        ("StartNotify", "", "", _start_notify), ("StopNotify", "", "", _stop_notify)])
    _emit_added(char_path, mockobject.objects[char_path].props)
    return path
