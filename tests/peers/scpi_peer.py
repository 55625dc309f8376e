"""SCPI peer for the agent's tests, written with scpipy (not the agent's code).

Usage: scpi_peer.py PORT

*IDN? -> JILIANG-PEER,SCPIPY,0001,1.5.1; MEASure:VOLTage[:DC]? -> +1.234500E+00;
MEASure:CURRent[:DC]? -> -2.5E-3; READ? -> 9.9E37 (overload). Unknown headers
get no reply; scpipy queues -110,"Command header error" for SYST:ERR?.
"""
import sys

from scpipy.server import Context, Router, Server

router = Router()


@router.register("*IDN?")
def idn(context: Context) -> str:
    return "JILIANG-PEER,SCPIPY,0001,1.5.1"


@router.register("MEASure:VOLTage[:DC]?")
def volt(context: Context) -> str:
    return "+1.234500E+00"


@router.register("MEASure:CURRent[:DC]?")
def curr(context: Context) -> str:
    return "-2.5E-3"


@router.register("READ?")
def read(context: Context) -> str:
    return "9.9E37"


server = Server("127.0.0.1", int(sys.argv[1]))
server.include_router(router)
print("ready", flush=True)
server.run()
