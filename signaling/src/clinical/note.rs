//! The structured consult note (NOM-004-SSA3-2012, "nota de interconsulta"):
//! its fields, their limits, and what must be present before it can be
//! signed. Drafts may be incomplete; a signature may not.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::cie10;

const SECTION_MAX: usize = 20_000;
const SHORT_MAX: usize = 200;

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct NoteBody {
    /// Motivo de la interconsulta.
    pub reason: String,
    /// Padecimiento actual / interrogatorio.
    pub subjective: String,
    /// Exploración física.
    pub objective: String,
    pub vital_signs: VitalSigns,
    /// Impresión diagnóstica, in words.
    pub assessment: String,
    /// Diagnoses coded in CIE-10.
    pub diagnoses: Vec<Diagnosis>,
    /// Criterios diagnósticos.
    pub diagnostic_criteria: String,
    /// Plan de estudios.
    pub study_plan: String,
    pub treatment: Vec<Prescription>,
    /// Pronóstico.
    pub prognosis: String,
    /// Sugerencias diagnósticas y de tratamiento para la unidad que envía.
    pub suggestions: String,
}

/// Vital signs as typed, range-checked fields (metric units).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct VitalSigns {
    pub systolic_mmhg: Option<u16>,
    pub diastolic_mmhg: Option<u16>,
    pub heart_rate_bpm: Option<u16>,
    pub respiratory_rate_rpm: Option<u16>,
    pub temperature_c: Option<f64>,
    pub spo2_percent: Option<u8>,
    pub weight_kg: Option<f64>,
    pub height_cm: Option<f64>,
    pub glucose_mg_dl: Option<u16>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Diagnosis {
    /// CIE-10 code from the catalogue, e.g. `E11.9`.
    pub code: String,
    /// Filled in from the catalogue; what a client sends here is replaced.
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Prescription {
    pub drug: String,
    pub dose: String,
    pub route: String,
    pub frequency: String,
    pub duration: String,
}

/// Why a note body was refused.
#[derive(Debug, PartialEq, Eq)]
pub struct NoteProblem(pub String);

fn problem(msg: impl Into<String>) -> NoteProblem {
    NoteProblem(msg.into())
}

impl NoteBody {
    /// Checks limits and ranges, and canonicalises diagnoses against the
    /// catalogue. Used on every save.
    pub fn checked(mut self) -> Result<NoteBody, NoteProblem> {
        for (name, value) in [
            ("reason", &self.reason),
            ("subjective", &self.subjective),
            ("objective", &self.objective),
            ("assessment", &self.assessment),
            ("diagnostic_criteria", &self.diagnostic_criteria),
            ("study_plan", &self.study_plan),
            ("prognosis", &self.prognosis),
            ("suggestions", &self.suggestions),
        ] {
            check_text(name, value, SECTION_MAX)?;
        }
        self.vital_signs.check()?;
        if self.diagnoses.len() > 20 {
            return Err(problem("at most 20 diagnoses"));
        }
        for d in &mut self.diagnoses {
            let entry = cie10::lookup(&d.code).ok_or_else(|| {
                problem(format!(
                    "{:?} is not a CIE-10 code in the catalogue",
                    truncated(&d.code)
                ))
            })?;
            d.code = entry.code.to_string();
            d.description = entry.description.to_string();
        }
        if self.treatment.len() > 30 {
            return Err(problem("at most 30 treatment lines"));
        }
        for (i, rx) in self.treatment.iter().enumerate() {
            for (name, value) in [
                ("drug", &rx.drug),
                ("dose", &rx.dose),
                ("route", &rx.route),
                ("frequency", &rx.frequency),
                ("duration", &rx.duration),
            ] {
                check_text(&format!("treatment[{i}].{name}"), value, SHORT_MAX)?;
            }
            if rx.drug.trim().is_empty() {
                return Err(problem(format!("treatment[{i}].drug is required")));
            }
        }
        Ok(self)
    }

    /// What a signature needs on top of [`checked`](Self::checked).
    pub fn ready_to_sign(&self) -> Result<(), NoteProblem> {
        if self.reason.trim().is_empty() {
            return Err(problem("a signed note needs the reason for the consult"));
        }
        if self.diagnoses.is_empty() && self.assessment.trim().is_empty() {
            return Err(problem(
                "a signed note needs an assessment or at least one CIE-10 diagnosis",
            ));
        }
        for (i, rx) in self.treatment.iter().enumerate() {
            if rx.dose.trim().is_empty() || rx.route.trim().is_empty() || rx.frequency.trim().is_empty() {
                return Err(problem(format!("treatment[{i}] needs dose, route and frequency")));
            }
        }
        Ok(())
    }
}

impl VitalSigns {
    fn check(&self) -> Result<(), NoteProblem> {
        range("systolic_mmhg", self.systolic_mmhg.map(f64::from), 40.0, 300.0)?;
        range("diastolic_mmhg", self.diastolic_mmhg.map(f64::from), 20.0, 200.0)?;
        range("heart_rate_bpm", self.heart_rate_bpm.map(f64::from), 20.0, 300.0)?;
        range(
            "respiratory_rate_rpm",
            self.respiratory_rate_rpm.map(f64::from),
            4.0,
            80.0,
        )?;
        range("temperature_c", self.temperature_c, 25.0, 45.0)?;
        range("spo2_percent", self.spo2_percent.map(f64::from), 30.0, 100.0)?;
        range("weight_kg", self.weight_kg, 0.3, 400.0)?;
        range("height_cm", self.height_cm, 20.0, 250.0)?;
        range("glucose_mg_dl", self.glucose_mg_dl.map(f64::from), 10.0, 1500.0)?;
        if let (Some(s), Some(d)) = (self.systolic_mmhg, self.diastolic_mmhg) {
            if d >= s {
                return Err(problem("diastolic_mmhg must be below systolic_mmhg"));
            }
        }
        Ok(())
    }
}

fn range(name: &str, value: Option<f64>, min: f64, max: f64) -> Result<(), NoteProblem> {
    match value {
        Some(v) if !v.is_finite() || v < min || v > max => {
            Err(problem(format!("vital_signs.{name} must be between {min} and {max}")))
        }
        _ => Ok(()),
    }
}

fn check_text(name: &str, value: &str, max: usize) -> Result<(), NoteProblem> {
    if value.chars().count() > max {
        return Err(problem(format!("{name} must have at most {max} characters")));
    }
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(problem(format!("{name} contains control characters")));
    }
    Ok(())
}

fn truncated(s: &str) -> String {
    s.chars().take(16).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete() -> NoteBody {
        NoteBody {
            reason: "Control de diabetes".into(),
            diagnoses: vec![Diagnosis {
                code: "e119".into(),
                description: "whatever".into(),
            }],
            ..Default::default()
        }
    }

    #[test]
    fn diagnoses_are_canonicalised_from_the_catalogue() {
        let body = complete().checked().unwrap();
        assert_eq!(body.diagnoses[0].code, "E11.9");
        assert_ne!(body.diagnoses[0].description, "whatever");
        let bad = NoteBody {
            diagnoses: vec![Diagnosis {
                code: "ZZZ.9".into(),
                description: String::new(),
            }],
            ..complete()
        };
        assert!(bad.checked().is_err());
    }

    #[test]
    fn vital_signs_are_range_checked() {
        let mut body = complete();
        body.vital_signs.temperature_c = Some(f64::NAN);
        assert!(body.clone().checked().is_err());
        body.vital_signs.temperature_c = Some(36.8);
        body.vital_signs.systolic_mmhg = Some(80);
        body.vital_signs.diastolic_mmhg = Some(120);
        assert!(body.checked().is_err());
    }

    #[test]
    fn signing_needs_reason_and_assessment() {
        assert!(NoteBody::default().ready_to_sign().is_err());
        assert!(complete().checked().unwrap().ready_to_sign().is_ok());
        let mut rx = complete();
        rx.treatment.push(Prescription {
            drug: "Metformina".into(),
            ..Default::default()
        });
        assert!(rx.ready_to_sign().is_err());
    }
}
