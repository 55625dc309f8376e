//! A simulated pressure transmitter (kPa) speaking Modbus TCP.
//!
//! # Register map
//! Holding registers (function 3) and input registers (function 4) hold
//! the same values, sampled once per request (so the two halves of a
//! 32-bit value always belong together). Addresses are 0-based, as on the
//! wire.
//!
//! | registers | content |
//! |---|---|
//! | 0–1 | pressure, float32, kPa, word order big, byte order big ("ABCD") |
//! | 2–3 | the same, words swapped ("CDAB": `--word-order little`) |
//! | 4–5 | the same, bytes swapped ("BADC": `--byte-order little`) |
//! | 6–7 | the same, both swapped ("DCBA") |
//! | 8 | int16, kPa × 10 (`--type int16 --scale 0.1`) |
//! | 9 | uint16, kPa × 100 (`--type uint16 --scale 0.01`) |
//! | 10–11 | int32 ABCD, Pa (`--type int32 --scale 0.001` for kPa) |
//! | 12–13 | uint32 CDAB, Pa |
//! | 14 | status: the fault mode (0 none, 1 silent, 2 garbage) |
//! | 20–27 | serial number, ASCII, two characters per register, NUL-padded |
//! | 100 | holding only, read/write: the fault mode (0, 1, 2) |
//!
//! Anything else is answered with exception 02 (illegal data address); a
//! count of 0 or over 125 with 03; other functions with 01. Unit ids: the
//! configured one (`--unit-id`, default 1), and 0 and 255 ("this device"
//! on TCP); another id gets exception 0B (gateway target failed).
//!
//! # Fault mode
//! Set at start with `--fault`, at run time by writing register 100
//! (function 6 or 16; e.g. `jiliang-sim fault --modbus 127.0.0.1:5020
//! garbage`). `silent`: reads get no reply. `garbage`: reads get a frame
//! with an invalid function code and random bytes. Writes to register 100
//! and reads of register 100 alone are always answered, so a fault can
//! always be seen and ended.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use super::{Fault, FaultMode, Signal};
use crate::decode::{Order, RegisterType, encode_registers};

pub const FAULT_REGISTER: u16 = 100;
const SERIAL_REGISTER: u16 = 20;
const SERIAL_REGISTERS: u16 = 8;

#[derive(Debug)]
pub struct Transmitter {
    pub signal: Signal,
    pub fault: Fault,
    pub unit_id: u8,
    serial_number: String,
}

#[derive(Debug, PartialEq, Eq)]
enum Answer {
    Pdu(Vec<u8>),
    Silent,
    Garbage(u8),
}

fn exception(function: u8, code: u8) -> Answer {
    Answer::Pdu(vec![function | 0x80, code])
}

impl Transmitter {
    pub fn new(signal: Signal, fault: FaultMode, unit_id: u8, serial_number: String) -> Self {
        Self {
            signal,
            fault: Fault::new(fault),
            unit_id,
            serial_number,
        }
    }

    /// The 28 mapped registers 0–27 (unmapped ones `None`).
    fn snapshot(&self) -> Vec<Option<u16>> {
        use Order::{Big, Little};
        let v = self.signal.read();
        let mut regs: Vec<Option<u16>> = vec![None; 28];
        let mut put = |at: usize, words: Vec<u16>| {
            for (i, w) in words.into_iter().enumerate() {
                regs[at + i] = Some(w);
            }
        };
        put(0, encode_registers(v, RegisterType::Float32, Big, Big));
        put(2, encode_registers(v, RegisterType::Float32, Little, Big));
        put(4, encode_registers(v, RegisterType::Float32, Big, Little));
        put(
            6,
            encode_registers(v, RegisterType::Float32, Little, Little),
        );
        put(8, encode_registers(v * 10.0, RegisterType::Int16, Big, Big));
        put(
            9,
            encode_registers(v * 100.0, RegisterType::Uint16, Big, Big),
        );
        put(
            10,
            encode_registers(v * 1000.0, RegisterType::Int32, Big, Big),
        );
        put(
            12,
            encode_registers(v * 1000.0, RegisterType::Uint32, Little, Big),
        );
        put(14, vec![u16::from(fault_code(self.fault.get()))]);
        let mut sn = self.serial_number.as_bytes().to_vec();
        sn.resize(usize::from(SERIAL_REGISTERS) * 2, 0);
        put(
            usize::from(SERIAL_REGISTER),
            sn.chunks(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect(),
        );
        regs
    }

    /// Answer one request PDU.
    fn answer(&self, unit: u8, pdu: &[u8]) -> Answer {
        let Some(&function) = pdu.first() else {
            return Answer::Silent;
        };
        if unit != self.unit_id && unit != 0 && unit != 255 {
            return exception(function, 0x0B);
        }
        let word = |i: usize| pdu.get(i..i + 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
        match function {
            3 | 4 => {
                let (Some(start), Some(count)) = (word(1), word(3)) else {
                    return exception(function, 0x03);
                };
                if count == 0 || count > 125 {
                    return exception(function, 0x03);
                }
                let fault_register = function == 3 && start == FAULT_REGISTER && count == 1;
                match self.fault.get() {
                    FaultMode::Silent if !fault_register => return Answer::Silent,
                    FaultMode::Garbage if !fault_register => return Answer::Garbage(function),
                    _ => {}
                }
                let end = u32::from(start) + u32::from(count);
                let values: Option<Vec<u16>> = if fault_register {
                    Some(vec![u16::from(fault_code(self.fault.get()))])
                } else {
                    let regs = self.snapshot();
                    (end <= regs.len() as u32)
                        .then(|| {
                            regs[usize::from(start)..end as usize]
                                .iter()
                                .copied()
                                .collect()
                        })
                        .flatten()
                };
                let Some(values) = values else {
                    return exception(function, 0x02);
                };
                let mut out = vec![function, (values.len() * 2) as u8];
                for v in values {
                    out.extend_from_slice(&v.to_be_bytes());
                }
                Answer::Pdu(out)
            }
            6 => {
                let (Some(addr), Some(value)) = (word(1), word(3)) else {
                    return exception(function, 0x03);
                };
                self.write_fault(function, addr, value)
                    .unwrap_or_else(|| Answer::Pdu(pdu[..5].to_vec()))
            }
            16 => {
                let (Some(addr), Some(count)) = (word(1), word(3)) else {
                    return exception(function, 0x03);
                };
                if addr != FAULT_REGISTER || count != 1 {
                    return exception(function, 0x02);
                }
                let Some(value) = word(6) else {
                    return exception(function, 0x03);
                };
                self.write_fault(function, addr, value)
                    .unwrap_or_else(|| Answer::Pdu(pdu[..5].to_vec()))
            }
            _ => exception(function, 0x01),
        }
    }

    /// `None` on success (the caller echoes the request).
    fn write_fault(&self, function: u8, addr: u16, value: u16) -> Option<Answer> {
        if addr != FAULT_REGISTER {
            return Some(exception(function, 0x02));
        }
        let mode = match value {
            0 => FaultMode::None,
            1 => FaultMode::Silent,
            2 => FaultMode::Garbage,
            _ => return Some(exception(function, 0x03)),
        };
        self.fault.set(mode);
        None
    }

    async fn serve_conn(&self, mut stream: TcpStream) -> std::io::Result<()> {
        let mut header = [0u8; 7];
        loop {
            match stream.read_exact(&mut header).await {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
                Err(e) => return Err(e),
            }
            let tid = [header[0], header[1]];
            let protocol = u16::from_be_bytes([header[2], header[3]]);
            let len = u16::from_be_bytes([header[4], header[5]]);
            let unit = header[6];
            if protocol != 0 || !(2..=254).contains(&len) {
                // Not Modbus TCP: nothing sensible to answer.
                return Ok(());
            }
            let mut pdu = vec![0u8; usize::from(len) - 1];
            stream.read_exact(&mut pdu).await?;
            let reply = match self.answer(unit, &pdu) {
                Answer::Silent => continue,
                Answer::Pdu(p) => p,
                Answer::Garbage(_) => {
                    let mut junk = vec![0x55];
                    let mut r = self.signal.random_u64();
                    for _ in 0..5 {
                        junk.push(r as u8);
                        r = r.rotate_right(8);
                    }
                    junk
                }
            };
            let mut frame = Vec::with_capacity(7 + reply.len());
            frame.extend_from_slice(&tid);
            frame.extend_from_slice(&0u16.to_be_bytes());
            frame.extend_from_slice(&((reply.len() + 1) as u16).to_be_bytes());
            frame.push(unit);
            frame.extend_from_slice(&reply);
            stream.write_all(&frame).await?;
        }
    }
}

fn fault_code(mode: FaultMode) -> u8 {
    match mode {
        FaultMode::None => 0,
        FaultMode::Silent => 1,
        FaultMode::Garbage => 2,
    }
}

/// Accept connections until `stop`.
pub async fn serve_tcp(listener: TcpListener, tx: Arc<Transmitter>, stop: CancellationToken) {
    loop {
        let (stream, peer) = tokio::select! {
            _ = stop.cancelled() => return,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let tx = tx.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = stop.cancelled() => {}
                r = tx.serve_conn(stream) => {
                    if let Err(e) = r {
                        tracing::debug!(%peer, error = %e, "client connection ended");
                    }
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::decode_registers;
    use crate::sim::{SignalArgs, SignalDefaults};

    fn transmitter() -> Transmitter {
        let args = SignalArgs {
            levels: Some(vec![101.325]),
            dwell_s: 60.0,
            noise: Some(0.0),
            offset: Some(0.0),
            drift_per_hour: Some(0.0),
            seed: Some(1),
            serial_number: "PT-7".into(),
            fault: FaultMode::None,
        };
        let d = SignalDefaults {
            levels: &[0.0],
            noise: 0.0,
            offset: 0.0,
            drift_per_hour: 0.0,
        };
        Transmitter::new(
            Signal::new(&args, d).expect("valid"),
            FaultMode::None,
            1,
            "PT-7".into(),
        )
    }

    fn read(t: &Transmitter, function: u8, start: u16, count: u16) -> Result<Vec<u16>, u8> {
        let mut pdu = vec![function];
        pdu.extend_from_slice(&start.to_be_bytes());
        pdu.extend_from_slice(&count.to_be_bytes());
        match t.answer(1, &pdu) {
            Answer::Pdu(p) if p[0] == function => Ok(p[2..]
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect()),
            Answer::Pdu(p) => Err(p[1]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_register_map_holds_one_value_in_every_layout() {
        use Order::{Big, Little};
        use RegisterType::*;
        let t = transmitter();
        for f in [3, 4] {
            let r = read(&t, f, 0, 14).expect("mapped");
            let dec = |at: usize, ty, w, b| {
                decode_registers(
                    &r[at..at + usize::from(RegisterType::registers(ty))],
                    ty,
                    w,
                    b,
                )
                .expect("decodes")
            };
            let v = 101.325;
            assert_eq!(dec(0, Float32, Big, Big), v);
            assert_eq!(dec(2, Float32, Little, Big), v);
            assert_eq!(dec(4, Float32, Big, Little), v);
            assert_eq!(dec(6, Float32, Little, Little), v);
            assert_eq!(dec(8, Int16, Big, Big), 1013.0);
            assert_eq!(dec(9, Uint16, Big, Big), 10133.0);
            assert_eq!(dec(10, Int32, Big, Big), 101_325.0);
            assert_eq!(dec(12, Uint32, Little, Big), 101_325.0);
        }
        let sn = read(&t, 4, 20, 2).expect("mapped");
        assert_eq!(
            sn,
            vec![u16::from_be_bytes(*b"PT"), u16::from_be_bytes(*b"-7")]
        );
    }

    #[test]
    fn exceptions_and_the_fault_register() {
        let t = transmitter();
        assert_eq!(read(&t, 3, 14, 2), Err(0x02));
        assert_eq!(read(&t, 4, 100, 1), Err(0x02));
        assert_eq!(read(&t, 3, 0, 0), Err(0x03));
        assert_eq!(read(&t, 3, 0, 126), Err(0x03));
        assert_eq!(t.answer(1, &[1, 0, 0, 0, 1]), exception(1, 0x01));
        assert_eq!(t.answer(9, &[3, 0, 0, 0, 1]), exception(3, 0x0B));
        assert_eq!(t.answer(6, &[6, 0, 100, 0, 1]), exception(6, 0x0B));
        assert_eq!(
            t.answer(1, &[6, 0, 100, 0, 1]),
            Answer::Pdu(vec![6, 0, 100, 0, 1])
        );
        assert_eq!(t.fault.get(), FaultMode::Silent);
        assert_eq!(t.answer(1, &[3, 0, 0, 0, 2]), Answer::Silent);
        assert_eq!(t.answer(1, &[6, 0, 100, 0, 9]), exception(6, 0x03));
        assert_eq!(
            t.answer(1, &[16, 0, 100, 0, 1, 2, 0, 2]),
            Answer::Pdu(vec![16, 0, 100, 0, 1])
        );
        assert_eq!(t.answer(255, &[4, 0, 0, 0, 2]), Answer::Garbage(4));
        // The fault register stays readable whatever the mode.
        assert_eq!(read(&t, 3, 100, 1), Ok(vec![2]));
        assert_eq!(
            t.answer(0, &[6, 0, 100, 0, 0]),
            Answer::Pdu(vec![6, 0, 100, 0, 0])
        );
        assert_eq!(read(&t, 3, 100, 1), Ok(vec![0]));
    }
}
