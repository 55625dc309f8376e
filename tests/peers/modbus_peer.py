"""Modbus peer for the agent's tests: pymodbus's server with the SimDevice API.

Usage: modbus_peer.py tcp PORT | modbus_peer.py rtu SERIAL_PATH

Unit id 1. Holding registers: 0-1 FLOAT32 101.325 (ABCD), 2-3 the same
word-swapped (CDAB). Input registers: 0 = 0x1234, 1 = 0xBEEF, 2 = 7,
3-4 FLOAT32 23.5. Anything else: exception 02. The Rust tests
(crates/agent/tests/agent/peers.rs and serial.rs) assert these figures.
"""
import asyncio
import struct
import sys

from pymodbus.simulator import DataType, SimData, SimDevice


def cdab(v):
    hi, lo = struct.unpack(">HH", struct.pack(">f", v))
    return [lo, hi]


def device():
    return SimDevice(
        id=1,
        simdata=(
            [SimData(0, values=[False] * 16, datatype=DataType.BITS)],
            [SimData(0, values=[False] * 16, datatype=DataType.BITS)],
            [
                SimData(0, values=101.325, datatype=DataType.FLOAT32),
                SimData(2, values=cdab(101.325), datatype=DataType.REGISTERS),
            ],
            [
                SimData(0, values=[0x1234, 0xBEEF, 7], datatype=DataType.REGISTERS),
                SimData(3, values=23.5, datatype=DataType.FLOAT32),
            ],
        ),
    )


async def main():
    kind, where = sys.argv[1], sys.argv[2]
    if kind == "tcp":
        from pymodbus.server import ModbusTcpServer

        server = ModbusTcpServer(device(), address=("127.0.0.1", int(where)))
    else:
        from pymodbus import FramerType
        from pymodbus.server import ModbusSerialServer

        server = ModbusSerialServer(device(), framer=FramerType.RTU, port=where, baudrate=9600)
    print("ready", flush=True)
    await server.serve_forever()


asyncio.run(main())
