//! The Digital Calibration Certificate (PTB DCC 3.3.0, D-SI 2.2.1
//! quantities) of a certificate, written with quick-xml. Element order
//! follows the schema (checked in tests with `xmllint --schema`); numbers
//! are written as the strings the document holds, so `10.000` stays
//! `10.000`; units are D-SI (`\kilo\pascal`).

use std::io;

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};

use super::Certificate;
use super::document::{Party, ResultTable, RoundTable};

type W = Writer<Vec<u8>>;

/// Our software's name and release, as the DCC names it.
const SOFTWARE: &str = "Jiliang 计量协作网";

fn text(w: &mut W, name: &str, value: &str) -> io::Result<()> {
    w.create_element(name)
        .write_text_content(BytesText::new(value))?;
    Ok(())
}

/// `<name>` with `dcc:content` in Chinese and (if given) English.
fn contents(w: &mut W, name: &str, zh: &str, en: Option<&str>) -> io::Result<()> {
    w.create_element(name).write_inner_content(|w| {
        w.create_element("dcc:content")
            .with_attribute(("lang", "zh"))
            .write_text_content(BytesText::new(zh))?;
        if let Some(en) = en.filter(|e| !e.trim().is_empty()) {
            w.create_element("dcc:content")
                .with_attribute(("lang", "en"))
                .write_text_content(BytesText::new(en))?;
        }
        Ok::<_, io::Error>(())
    })?;
    Ok(())
}

fn location(w: &mut W, p: &Party) -> io::Result<()> {
    w.create_element("dcc:location").write_inner_content(|w| {
        text(w, "dcc:countryCode", "CN")?;
        text(w, "dcc:postCode", &p.region_code)?;
        if !p.contact.trim().is_empty() {
            w.create_element("dcc:further").write_inner_content(|w| {
                w.create_element("dcc:content")
                    .with_attribute(("lang", "zh"))
                    .write_text_content(BytesText::new(p.contact.trim()))?;
                Ok::<_, io::Error>(())
            })?;
        }
        Ok::<_, io::Error>(())
    })?;
    Ok(())
}

fn list_quantity(
    w: &mut W,
    ref_type: &str,
    (zh, en): (&str, &str),
    values: &[&str],
    unit: &str,
    unc: Option<(&[&str], &[&str], &[&str])>,
) -> io::Result<()> {
    w.create_element("dcc:quantity")
        .with_attribute(("refType", ref_type))
        .write_inner_content(|w| {
            contents(w, "dcc:name", zh, Some(en))?;
            w.create_element("si:realListXMLList")
                .write_inner_content(|w| {
                    text(w, "si:valueXMLList", &values.join(" "))?;
                    text(w, "si:unitXMLList", unit)?;
                    if let Some((u, k, p)) = unc {
                        w.create_element("si:expandedUncXMLList")
                            .write_inner_content(|w| {
                                text(w, "si:uncertaintyXMLList", &u.join(" "))?;
                                text(w, "si:coverageFactorXMLList", &k.join(" "))?;
                                text(w, "si:coverageProbabilityXMLList", &p.join(" "))?;
                                text(w, "si:distributionXMLList", "normal")?;
                                Ok::<_, io::Error>(())
                            })?;
                    }
                    Ok::<_, io::Error>(())
                })?;
            Ok::<_, io::Error>(())
        })?;
    Ok(())
}

fn result(w: &mut W, t: &ResultTable) -> io::Result<()> {
    let col = |f: fn(&super::document::ResultRow) -> &str| -> Vec<&str> {
        t.rows.iter().map(f).collect()
    };
    let nominal = col(|r| &r.nominal);
    let reference = col(|r| &r.reference);
    let indicated = col(|r| &r.indicated);
    let error = col(|r| &r.error);
    let u = col(|r| &r.expanded_uncertainty);
    let k = col(|r| &r.coverage_factor);
    let p = col(|r| &r.coverage_probability);
    w.create_element("dcc:result")
        .with_attribute(("refType", "gp_measuringResult1"))
        .write_inner_content(|w| {
            contents(w, "dcc:name", &t.name_zh, Some(&t.name_en))?;
            w.create_element("dcc:data").write_inner_content(|w| {
                w.create_element("dcc:list")
                    .with_attribute(("refType", "gp_table1"))
                    .write_inner_content(|w| {
                        list_quantity(
                            w,
                            "basic_nominalValue",
                            ("标称值", "Nominal value"),
                            &nominal,
                            &t.dsi_unit,
                            None,
                        )?;
                        list_quantity(
                            w,
                            "basic_referenceValue",
                            ("标准值", "Reference value"),
                            &reference,
                            &t.dsi_unit,
                            None,
                        )?;
                        list_quantity(
                            w,
                            "basic_measuredValue",
                            ("被校示值", "Indicated value"),
                            &indicated,
                            &t.dsi_unit,
                            None,
                        )?;
                        list_quantity(
                            w,
                            "basic_measurementError",
                            ("示值误差", "Measurement error"),
                            &error,
                            &t.dsi_unit,
                            Some((&u, &k, &p)),
                        )?;
                        Ok::<_, io::Error>(())
                    })?;
                Ok::<_, io::Error>(())
            })?;
            Ok::<_, io::Error>(())
        })?;
    Ok(())
}

/// A list quantity without uncertainty, in `unit`.
fn plain_list(w: &mut W, names: (&str, &str), values: &[&str], unit: &str) -> io::Result<()> {
    w.create_element("dcc:quantity").write_inner_content(|w| {
        contents(w, "dcc:name", names.0, Some(names.1))?;
        w.create_element("si:realListXMLList")
            .write_inner_content(|w| {
                text(w, "si:valueXMLList", &values.join(" "))?;
                text(w, "si:unitXMLList", unit)?;
                Ok::<_, io::Error>(())
            })?;
        Ok::<_, io::Error>(())
    })?;
    Ok(())
}

/// A round report's results: the reference value with U, then one list of
/// the participants (codes, results with U, D with U(D), the scores every
/// lab has, the verdicts).
fn round_results(w: &mut W, t: &RoundTable) -> io::Result<()> {
    let Some(unit) = t.dsi_unit.as_deref() else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("the unit {} has no D-SI form", t.unit),
        ));
    };
    w.create_element("dcc:result")
        .with_attribute(("refType", "basic_referenceValue"))
        .write_inner_content(|w| {
            contents(w, "dcc:name", "参考值", Some("Reference value"))?;
            w.create_element("dcc:data").write_inner_content(|w| {
                w.create_element("dcc:quantity").write_inner_content(|w| {
                    contents(w, "dcc:name", "参考值", Some("Reference value"))?;
                    w.create_element("si:real").write_inner_content(|w| {
                        text(w, "si:value", &t.reference.value)?;
                        text(w, "si:unit", unit)?;
                        w.create_element("si:expandedUnc")
                            .write_inner_content(|w| {
                                text(w, "si:uncertainty", &t.reference.expanded_uncertainty)?;
                                text(w, "si:coverageFactor", &t.reference.coverage_factor)?;
                                text(w, "si:coverageProbability", "0.95")?;
                                text(w, "si:distribution", "normal")?;
                                Ok::<_, io::Error>(())
                            })?;
                        Ok::<_, io::Error>(())
                    })?;
                    Ok::<_, io::Error>(())
                })?;
                Ok::<_, io::Error>(())
            })?;
            Ok::<_, io::Error>(())
        })?;
    let rows = &t.rows;
    let col =
        |f: fn(&super::document::RoundRow) -> &str| -> Vec<&str> { rows.iter().map(f).collect() };
    // A score column only when every lab has that score (list lengths agree).
    let scores = |f: fn(&super::document::RoundRow) -> Option<&str>| -> Option<Vec<&str>> {
        rows.iter().map(f).collect()
    };
    w.create_element("dcc:result").write_inner_content(|w| {
        contents(
            w,
            "dcc:name",
            "参加实验室结果",
            Some("Participants' results"),
        )?;
        w.create_element("dcc:data").write_inner_content(|w| {
            w.create_element("dcc:list").write_inner_content(|w| {
                w.create_element("dcc:quantity").write_inner_content(|w| {
                    contents(w, "dcc:name", "实验室代码", Some("Laboratory code"))?;
                    let names: Vec<String> = rows
                        .iter()
                        .filter(|r| r.lab != r.code)
                        .map(|r| r.lab.clone())
                        .collect();
                    if !names.is_empty() {
                        w.create_element("dcc:description")
                            .write_inner_content(|w| {
                                w.create_element("dcc:content")
                                    .with_attribute(("lang", "zh"))
                                    .write_text_content(BytesText::new(&names.join("；")))?;
                                Ok::<_, io::Error>(())
                            })?;
                    }
                    text(w, "dcc:charsXMLList", &col(|r| &r.code).join(" "))?;
                    Ok::<_, io::Error>(())
                })?;
                let u = col(|r| &r.result.expanded_uncertainty);
                let k = col(|r| &r.result.coverage_factor);
                let p = vec!["0.95"; rows.len()];
                if u.iter().chain(&k).all(|x| !x.is_empty()) {
                    list_quantity(
                        w,
                        "basic_measuredValue",
                        ("测得值", "Measured value"),
                        &col(|r| &r.result.value),
                        unit,
                        Some((&u, &k, &p)),
                    )?;
                } else {
                    plain_list(
                        w,
                        ("测得值", "Measured value"),
                        &col(|r| &r.result.value),
                        unit,
                    )?;
                }
                let d = col(|r| &r.d);
                match scores(|r| r.big_u_d.as_deref()) {
                    Some(ud) => {
                        let kd = vec![t.reference.coverage_factor.as_str(); rows.len()];
                        w.create_element("dcc:quantity").write_inner_content(|w| {
                            contents(w, "dcc:name", "等效度 D", Some("Degree of equivalence D"))?;
                            w.create_element("si:realListXMLList")
                                .write_inner_content(|w| {
                                    text(w, "si:valueXMLList", &d.join(" "))?;
                                    text(w, "si:unitXMLList", unit)?;
                                    w.create_element("si:expandedUncXMLList")
                                        .write_inner_content(|w| {
                                            text(w, "si:uncertaintyXMLList", &ud.join(" "))?;
                                            text(w, "si:coverageFactorXMLList", &kd.join(" "))?;
                                            text(w, "si:coverageProbabilityXMLList", &p.join(" "))?;
                                            text(w, "si:distributionXMLList", "normal")?;
                                            Ok::<_, io::Error>(())
                                        })?;
                                    Ok::<_, io::Error>(())
                                })?;
                            Ok::<_, io::Error>(())
                        })?;
                    }
                    None => plain_list(w, ("等效度 D", "Degree of equivalence D"), &d, unit)?,
                }
                let score_lists = [
                    (("En 值", "En number"), scores(|r| r.en.as_deref())),
                    (("z 值", "z score"), scores(|r| r.z.as_deref())),
                    (("z′ 值", "z′ score"), scores(|r| r.z_prime.as_deref())),
                    (("ζ 值", "ζ score"), scores(|r| r.zeta.as_deref())),
                ];
                for (names, values) in score_lists {
                    if let Some(values) = values {
                        plain_list(w, names, &values, r"\one")?;
                    }
                }
                if let Some(v) = scores(|r| r.verdict.as_deref()) {
                    w.create_element("dcc:quantity").write_inner_content(|w| {
                        contents(w, "dcc:name", "结论", Some("Verdict"))?;
                        text(w, "dcc:charsXMLList", &v.join(" "))?;
                        Ok::<_, io::Error>(())
                    })?;
                }
                Ok::<_, io::Error>(())
            })?;
            Ok::<_, io::Error>(())
        })?;
        Ok::<_, io::Error>(())
    })?;
    Ok(())
}

/// The DCC 3.3.0 XML of `c` (an `InvalidInput` error for a round report
/// whose unit has no D-SI form).
pub fn dcc_xml(c: &Certificate) -> io::Result<Vec<u8>> {
    let d = &c.document;
    let (source_zh, source_en) = if d.round.is_some() {
        ("比对编号", "Round id")
    } else {
        ("原始记录编号", "Raw record id")
    };
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    w.create_element("dcc:digitalCalibrationCertificate")
        .with_attribute(("xmlns:dcc", "https://ptb.de/dcc"))
        .with_attribute(("xmlns:si", "https://ptb.de/si"))
        .with_attribute(("schemaVersion", "3.3.0"))
        .write_inner_content(|w| {
            w.create_element("dcc:administrativeData")
                .write_inner_content(|w| {
                    w.create_element("dcc:dccSoftware")
                        .write_inner_content(|w| {
                            w.create_element("dcc:software").write_inner_content(|w| {
                                contents(w, "dcc:name", SOFTWARE, None)?;
                                text(w, "dcc:release", env!("CARGO_PKG_VERSION"))?;
                                Ok::<_, io::Error>(())
                            })?;
                            Ok::<_, io::Error>(())
                        })?;
                    w.create_element("dcc:coreData").write_inner_content(|w| {
                        text(w, "dcc:countryCodeISO3166_1", "CN")?;
                        text(w, "dcc:usedLangCodeISO639_1", "zh")?;
                        text(w, "dcc:usedLangCodeISO639_1", "en")?;
                        text(w, "dcc:mandatoryLangCodeISO639_1", "zh")?;
                        text(w, "dcc:uniqueIdentifier", &c.number)?;
                        w.create_element("dcc:identifications")
                            .write_inner_content(|w| {
                                w.create_element("dcc:identification").write_inner_content(
                                    |w| {
                                        text(w, "dcc:issuer", "calibrationLaboratory")?;
                                        text(w, "dcc:value", &c.source.id)?;
                                        contents(w, "dcc:name", source_zh, Some(source_en))?;
                                        Ok::<_, io::Error>(())
                                    },
                                )?;
                                Ok::<_, io::Error>(())
                            })?;
                        text(w, "dcc:beginPerformanceDate", &d.begin_date)?;
                        text(w, "dcc:endPerformanceDate", &d.end_date)?;
                        text(w, "dcc:performanceLocation", &d.performance_location)?;
                        text(w, "dcc:issueDate", &c.issue_date)?;
                        Ok::<_, io::Error>(())
                    })?;
                    w.create_element("dcc:items").write_inner_content(|w| {
                        w.create_element("dcc:item").write_inner_content(|w| {
                            contents(w, "dcc:name", &d.item.name, None)?;
                            w.create_element("dcc:identifications")
                                .write_inner_content(|w| {
                                    for id in &d.item.identifications {
                                        w.create_element("dcc:identification")
                                            .write_inner_content(|w| {
                                                text(w, "dcc:issuer", &id.issuer)?;
                                                text(w, "dcc:value", &id.value)?;
                                                contents(
                                                    w,
                                                    "dcc:name",
                                                    &id.name_zh,
                                                    Some(&id.name_en),
                                                )?;
                                                Ok::<_, io::Error>(())
                                            })?;
                                    }
                                    Ok::<_, io::Error>(())
                                })?;
                            Ok::<_, io::Error>(())
                        })?;
                        Ok::<_, io::Error>(())
                    })?;
                    w.create_element("dcc:calibrationLaboratory")
                        .write_inner_content(|w| {
                            w.create_element("dcc:contact").write_inner_content(|w| {
                                contents(w, "dcc:name", &d.lab.name_zh, d.lab.name_en.as_deref())?;
                                location(w, &d.lab)?;
                                Ok::<_, io::Error>(())
                            })?;
                            Ok::<_, io::Error>(())
                        })?;
                    w.create_element("dcc:respPersons")
                        .write_inner_content(|w| {
                            w.create_element("dcc:respPerson")
                                .write_inner_content(|w| {
                                    w.create_element("dcc:person").write_inner_content(|w| {
                                        contents(w, "dcc:name", &c.signer.name, None)?;
                                        Ok::<_, io::Error>(())
                                    })?;
                                    text(w, "dcc:mainSigner", "true")?;
                                    Ok::<_, io::Error>(())
                                })?;
                            Ok::<_, io::Error>(())
                        })?;
                    w.create_element("dcc:customer").write_inner_content(|w| {
                        contents(
                            w,
                            "dcc:name",
                            &d.customer.name_zh,
                            d.customer.name_en.as_deref(),
                        )?;
                        location(w, &d.customer)?;
                        Ok::<_, io::Error>(())
                    })?;
                    Ok::<_, io::Error>(())
                })?;
            w.create_element("dcc:measurementResults")
                .write_inner_content(|w| {
                    w.create_element("dcc:measurementResult")
                        .write_inner_content(|w| {
                            contents(w, "dcc:name", &d.title_zh, Some(&d.title_en))?;
                            if !d.method.is_empty() {
                                w.create_element("dcc:usedMethods")
                                    .write_inner_content(|w| {
                                        w.create_element("dcc:usedMethod").write_inner_content(
                                            |w| {
                                                let (zh, en) = if d.round.is_some() {
                                                    ("比对方法", "Comparison method")
                                                } else {
                                                    ("校准方法", "Method")
                                                };
                                                contents(w, "dcc:name", zh, Some(en))?;
                                                w.create_element("dcc:description")
                                                    .write_inner_content(|w| {
                                                        for line in &d.method {
                                                            w.create_element("dcc:content")
                                                                .with_attribute((
                                                                    "lang",
                                                                    if line.is_ascii() {
                                                                        "en"
                                                                    } else {
                                                                        "zh"
                                                                    },
                                                                ))
                                                                .write_text_content(
                                                                    BytesText::new(line),
                                                                )?;
                                                        }
                                                        Ok::<_, io::Error>(())
                                                    })?;
                                                Ok::<_, io::Error>(())
                                            },
                                        )?;
                                        Ok::<_, io::Error>(())
                                    })?;
                            }
                            w.create_element("dcc:results").write_inner_content(|w| {
                                for t in &d.results {
                                    result(w, t)?;
                                }
                                if let Some(t) = &d.round {
                                    round_results(w, t)?;
                                }
                                Ok::<_, io::Error>(())
                            })?;
                            Ok::<_, io::Error>(())
                        })?;
                    Ok::<_, io::Error>(())
                })?;
            Ok::<_, io::Error>(())
        })?;
    Ok(w.into_inner())
}

/// Where the DCC and D-SI schemas are: `$JILIANG_DCC_REFERENCE`, or
/// `shared/reference/dcc` beside the repository. `None` when absent.
#[cfg(test)]
pub(crate) fn reference_dir() -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("JILIANG_DCC_REFERENCE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/reference/dcc")
        });
    dir.join("v3.3.0/dcc.xsd").exists().then_some(dir)
}

/// `xmllint --nonet --noout --schema` of `xml` against DCC 3.3.0: `Ok` or
/// xmllint's complaint; `None` (with a message) when the schemas or
/// xmllint are missing.
#[cfg(test)]
pub(crate) fn xmllint(xml: &[u8]) -> Option<Result<(), String>> {
    let Some(dir) = reference_dir() else {
        eprintln!(
            "skipped: no DCC reference schemas (../shared/reference/dcc or $JILIANG_DCC_REFERENCE)"
        );
        return None;
    };
    let file = tempfile::NamedTempFile::new().ok()?;
    std::fs::write(file.path(), xml).ok()?;
    let out = match std::process::Command::new("xmllint")
        .arg("--nonet")
        .arg("--noout")
        .arg("--schema")
        .arg(dir.join("v3.3.0/dcc.xsd"))
        .arg(file.path())
        .output()
    {
        Ok(o) => o,
        Err(e) => {
            eprintln!("skipped: xmllint not runnable ({e}); install libxml2-utils");
            return None;
        }
    };
    Some(if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certificates::fixture;

    fn xml_of(c: &Certificate) -> String {
        String::from_utf8(dcc_xml(c).expect("xml")).expect("utf-8")
    }

    #[test]
    fn the_dcc_carries_numbers_as_written_and_dsi_units() {
        let c = fixture::certificate();
        let xml = xml_of(&c);
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"));
        assert!(xml.contains("schemaVersion=\"3.3.0\""));
        assert!(xml.contains("<dcc:uniqueIdentifier>JL-2026-000007</dcc:uniqueIdentifier>"));
        assert!(
            xml.contains("<si:valueXMLList>100.00 200.00</si:valueXMLList>"),
            "{xml}"
        );
        assert!(xml.contains("<si:valueXMLList>0.018 0.020</si:valueXMLList>"));
        assert!(xml.contains("<si:uncertaintyXMLList>0.020 0.026</si:uncertaintyXMLList>"));
        assert!(xml.contains(r"<si:unitXMLList>\kilo\pascal</si:unitXMLList>"));
        assert!(xml.contains("<dcc:issueDate>2026-12-04</dcc:issueDate>"));
        assert!(xml.contains("甘肃省计量研究院"));
        assert!(xml.contains("<dcc:mainSigner>true</dcc:mainSigner>"));
    }

    #[test]
    fn the_dcc_validates_against_the_3_3_0_schema() {
        let c = fixture::certificate();
        let Some(result) = xmllint(&dcc_xml(&c).expect("xml")) else {
            return;
        };
        result.expect("schema-valid DCC");
    }

    #[test]
    fn text_is_escaped_and_still_valid() {
        let mut c = fixture::certificate();
        c.document.item.name = "A<B & \"C\" 表".to_owned();
        c.document.customer.contact = "a&b <c>".to_owned();
        let xml = xml_of(&c);
        assert!(xml.contains("A&lt;B &amp;"), "{xml}");
        if let Some(r) = xmllint(xml.as_bytes()) {
            r.expect("valid");
        }
    }

    #[test]
    fn a_round_report_dcc_lists_the_labs_and_validates() {
        let c = fixture::round_report();
        let xml = xml_of(&c);
        assert!(
            xml.contains("<dcc:charsXMLList>L01 L02 L03</dcc:charsXMLList>"),
            "{xml}"
        );
        assert!(xml.contains("<si:value>10.000006</si:value>"));
        assert!(xml.contains("<si:uncertainty>0.000014</si:uncertainty>"));
        assert!(xml.contains("<si:valueXMLList>10.000004 10.000012 10.000095</si:valueXMLList>"));
        assert!(xml.contains("<si:valueXMLList>-0.10 0.29 4.24</si:valueXMLList>"));
        assert!(xml.contains(r"<si:unitXMLList>\one</si:unitXMLList>"));
        assert!(xml.contains("satisfactory satisfactory unsatisfactory"));
        assert!(xml.contains("秦安县计量检定所 (L01)"));
        if let Some(r) = xmllint(xml.as_bytes()) {
            r.expect("schema-valid round DCC");
        }
        // A unit without a D-SI form gives no DCC, and says why.
        let mut c = c;
        if let Some(t) = c.document.round.as_mut() {
            t.unit = "mg/kg".to_owned();
            t.dsi_unit = None;
        }
        let e = dcc_xml(&c).expect_err("no D-SI unit");
        assert!(e.to_string().contains("mg/kg"), "{e}");
    }

    #[test]
    fn the_validator_catches_a_broken_dcc() {
        // The check can fail: a DCC without its results is refused.
        let c = fixture::certificate();
        let xml = xml_of(&c);
        let start = xml.find("<dcc:measurementResults>").expect("results");
        let end =
            xml.find("</dcc:measurementResults>").expect("end") + "</dcc:measurementResults>".len();
        let broken = format!("{}{}", &xml[..start], &xml[end..]);
        if let Some(r) = xmllint(broken.as_bytes()) {
            assert!(r.is_err(), "xmllint accepted a DCC without results");
        }
    }
}
