//! Subscriber feedback to the application. Inbound RTCP is for the crate's
//! interceptors (reports, NACKs, bandwidth feedback) and stops at the end of
//! their chain; this interceptor, last in the chain, keeps what the SFU
//! acts on and marks it `DeliverToApplication`, so a forwarded track's
//! `poll` sees it:
//! - picture-loss indications and full-intra requests (ask the publisher
//!   for a keyframe);
//! - the reception report blocks of receiver and sender reports (the loss
//!   the subscriber sees on a forwarded stream), each as a receiver report
//!   of its own: the crate routes an RTCP packet to the track of its first
//!   destination SSRC, and a browser reports on every stream it receives
//!   in one packet;
//! - REMB (the subscriber's receive estimate).
//!
//! It also counts, by kind, the feedback browsers send
//! (`jiliang_media_feedback`): reception report blocks, REMB, transport-wide
//! congestion control (TWCC), NACK and keyframe requests — which inputs of
//! the layer choice a browser really provides (`docs/OPERATIONS.md`).
//!
//! The pattern is the crate's own (`tests/rtcp_processing_webrtc2webrtc.rs`
//! of webrtc 0.21.1).

use std::collections::VecDeque;
use std::time::Instant;

use prometheus_client::metrics::counter::Counter;
use rtc::interceptor::{Attribute, Interceptor, Packet, Slot, StreamInfo, TaggedPacket};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::payload_feedbacks::receiver_estimated_maximum_bitrate::ReceiverEstimatedMaximumBitrate;
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::rtcp::sender_report::SenderReport;
use rtc::rtcp::transport_feedbacks::transport_layer_cc::TransportLayerCc;
use rtc::rtcp::transport_feedbacks::transport_layer_nack::TransportLayerNack;
use rtc::sansio;
use rtc::shared::error::Error;

use super::MediaGauges;

/// After every interceptor of the default chain (the last is at 13 000).
pub const SLOT: usize = 14_000;

/// Where the forwarder goes in the registry.
pub fn slot() -> Slot {
    Slot::from(SLOT)
}

/// Whether an RTCP packet asks for a keyframe.
pub fn is_keyframe_request(packet: &dyn rtc::rtcp::Packet) -> bool {
    let any = packet.as_any();
    any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>()
}

/// The packets of an inbound RTCP compound the application gets, one
/// destination each.
pub fn for_application(packets: &[Box<dyn rtc::rtcp::Packet>]) -> Vec<Box<dyn rtc::rtcp::Packet>> {
    let mut out: Vec<Box<dyn rtc::rtcp::Packet>> = Vec::new();
    for p in packets {
        let any = p.as_any();
        let blocks = if let Some(rr) = any.downcast_ref::<ReceiverReport>() {
            Some((rr.ssrc, &rr.reports))
        } else {
            any.downcast_ref::<SenderReport>()
                .map(|sr| (sr.ssrc, &sr.reports))
        };
        if let Some((sender, reports)) = blocks {
            for r in reports {
                out.push(Box::new(ReceiverReport {
                    ssrc: sender,
                    reports: vec![r.clone()],
                    ..Default::default()
                }));
            }
        } else if is_keyframe_request(p.as_ref()) || any.is::<ReceiverEstimatedMaximumBitrate>() {
            out.push(p.clone());
        }
    }
    out
}

/// The feedback counters of `jiliang_media_feedback`.
#[derive(Clone, Default)]
pub struct FeedbackCounts {
    reports: Counter,
    remb: Counter,
    twcc: Counter,
    nack: Counter,
    keyframe: Counter,
}

impl FeedbackCounts {
    pub fn of(gauges: &MediaGauges) -> Self {
        Self {
            reports: gauges.feedback("receiver_report"),
            remb: gauges.feedback("remb"),
            twcc: gauges.feedback("twcc"),
            nack: gauges.feedback("nack"),
            keyframe: gauges.feedback("keyframe_request"),
        }
    }

    /// Count what an inbound compound carries: each reception report block
    /// (in receiver or sender reports), each feedback packet.
    pub fn count(&self, packets: &[Box<dyn rtc::rtcp::Packet>]) {
        for p in packets {
            let any = p.as_any();
            if let Some(rr) = any.downcast_ref::<ReceiverReport>() {
                self.reports.inc_by(rr.reports.len() as u64);
            } else if let Some(sr) = any.downcast_ref::<SenderReport>() {
                self.reports.inc_by(sr.reports.len() as u64);
            } else if any.is::<ReceiverEstimatedMaximumBitrate>() {
                self.remb.inc();
            } else if any.is::<TransportLayerCc>() {
                self.twcc.inc();
            } else if any.is::<TransportLayerNack>() {
                self.nack.inc();
            } else if is_keyframe_request(p.as_ref()) {
                self.keyframe.inc();
            }
        }
    }
}

/// Passes inbound feedback the SFU acts on to the application (see the
/// module documentation) and lets every other inbound RTCP packet end here
/// (the interceptors before it have had it).
#[derive(Default)]
pub struct KeyframeRequests {
    read_queue: VecDeque<TaggedPacket>,
    write_queue: VecDeque<TaggedPacket>,
    counts: FeedbackCounts,
}

impl KeyframeRequests {
    /// Counting what it sees in `counts`.
    pub fn counting(counts: FeedbackCounts) -> Self {
        Self {
            counts,
            ..Self::default()
        }
    }
}

impl sansio::Protocol<TaggedPacket, TaggedPacket, ()> for KeyframeRequests {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = Error;
    type Time = Instant;

    fn handle_read(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        let TaggedPacket {
            now,
            transport,
            message,
        } = msg;
        if let Packet::Rtcp(packets) = &message.packet {
            self.counts.count(packets);
            for p in for_application(packets) {
                let mut one = message.clone();
                one.packet = Packet::Rtcp(vec![p]);
                one.add(Attribute::DeliverToApplication);
                self.read_queue.push_back(TaggedPacket {
                    now,
                    transport,
                    message: one,
                });
            }
            return Ok(());
        }
        self.read_queue.push_back(TaggedPacket {
            now,
            transport,
            message,
        });
        Ok(())
    }

    fn poll_read(&mut self) -> Option<Self::Rout> {
        self.read_queue.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.write_queue.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<Self::Wout> {
        self.write_queue.pop_front()
    }

    fn handle_timeout(&mut self, _now: Instant) -> Result<(), Self::Error> {
        Ok(())
    }

    fn poll_timeout(&mut self) -> Option<Self::Time> {
        None
    }
}

impl Interceptor for KeyframeRequests {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}

#[cfg(test)]
mod tests {
    use rtc::rtcp::reception_report::ReceptionReport;

    use super::*;

    fn block(ssrc: u32, fraction_lost: u8) -> ReceptionReport {
        ReceptionReport {
            ssrc,
            fraction_lost,
            ..Default::default()
        }
    }

    #[test]
    fn report_blocks_reach_their_own_streams() {
        let packets: Vec<Box<dyn rtc::rtcp::Packet>> = vec![
            Box::new(SenderReport {
                ssrc: 9,
                reports: vec![block(1, 10), block(2, 20)],
                ..Default::default()
            }),
            Box::new(ReceiverReport {
                ssrc: 9,
                reports: vec![block(3, 30)],
                ..Default::default()
            }),
            Box::new(ReceiverEstimatedMaximumBitrate {
                sender_ssrc: 9,
                bitrate: 300_000.0,
                ssrcs: vec![1, 2],
            }),
            Box::new(PictureLossIndication {
                sender_ssrc: 9,
                media_ssrc: 2,
            }),
        ];
        let out = for_application(&packets);
        let dest: Vec<Vec<u32>> = out.iter().map(|p| p.destination_ssrc()).collect();
        assert_eq!(dest, vec![vec![1], vec![2], vec![3], vec![1, 2], vec![2]]);
        let rr = out[1]
            .as_any()
            .downcast_ref::<ReceiverReport>()
            .expect("a receiver report");
        assert_eq!(rr.reports[0].fraction_lost, 20);
        // A sender report without blocks (a publisher that receives
        // nothing) gives nothing.
        let quiet: Vec<Box<dyn rtc::rtcp::Packet>> = vec![Box::new(SenderReport::default())];
        assert!(for_application(&quiet).is_empty());
    }

    #[test]
    fn feedback_is_counted_by_kind() {
        let gauges = MediaGauges::default();
        let counts = FeedbackCounts::of(&gauges);
        let packets: Vec<Box<dyn rtc::rtcp::Packet>> = vec![
            Box::new(ReceiverReport {
                ssrc: 9,
                reports: vec![block(1, 0), block(2, 0)],
                ..Default::default()
            }),
            Box::new(ReceiverEstimatedMaximumBitrate {
                sender_ssrc: 9,
                bitrate: 300_000.0,
                ssrcs: vec![1],
            }),
            Box::new(TransportLayerNack::default()),
            Box::new(PictureLossIndication::default()),
        ];
        counts.count(&packets);
        counts.count(&packets[1..2]);
        let get = |kind| gauges.feedback(kind).get();
        assert_eq!(get("receiver_report"), 2);
        assert_eq!(get("remb"), 2);
        assert_eq!(get("nack"), 1);
        assert_eq!(get("keyframe_request"), 1);
        assert_eq!(get("twcc"), 0);
    }
}
