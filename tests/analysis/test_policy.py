"""Each flag: sentences that must raise it and near-misses (negated, warning, attributed) that must not.

Labels are given as the classifier would give them, and the model's flag
likelihoods are left at zero: these cases must hold on the policy's cues alone.
"""

import re
from pathlib import Path

import pytest

from service.analysis.errors import PolicyError
from service.analysis.normalize import normalize_with_map
from service.analysis.policy import load_policy

E, M, D, S = "efficacy", "mechanism", "dosing", "safety"

RAISE = [
    ("disease_claim", "Kratom cures anxiety and depression.", {E}),
    ("disease_claim", "This red vein eases arthritis pain within an hour.", {E}),
    ("disease_claim", "users say it relieved their chronic back pain for good", {E}),
    ("disease_claim", "Our capsules are a natural painkiller for everyday aches.", {E}),
    ("opioid_substitution", "Kratom helped me get off oxy after ten years.", {E}),
    ("opioid_substitution", "Many people use it to ease opiate withdrawal symptoms.", {E}),
    ("opioid_substitution", "It is a safer alternative to prescription painkillers.", {E, S}),
    ("safety_assurance", "Kratom is completely safe and non-addictive.", {S}),
    ("safety_assurance", "Enjoy all-day relief with no side effects.", {E, S}),
    ("safety_assurance", "It's far less addictive than opioids.", {S}),
    ("safety_assurance", "Kratom withdrawal is milder than quitting coffee.", {S}),
    ("absolute_claim", "A miracle herb that cures pain for good.", {E}),
    ("absolute_claim", "Clinically proven to relieve stress.", {E}),
    ("absolute_claim", "100% safe with zero side effects.", {S}),
    ("drug_combination", "Mix your kratom tea with grapefruit juice for a stronger effect.", {D}),
    ("drug_combination", "I like to stack it with phenibut on weekends.", {E}),
    ("drug_combination", "Potentiators like turmeric make a small dose hit harder.", {D, M}),
    ("vulnerable_population", "Kratom is gentle enough for seniors and older adults.", {E, S}),
    ("vulnerable_population", "I kept taking it during my pregnancy and felt great.", {D, E}),
    ("vulnerable_population", "It is perfectly safe for teens who need focus.", {E, S}),
    ("dosing_instruction", "Take 5 grams twice a day.", {D}),
    ("dosing_instruction", "Start with one capsule and increase slowly.", {D}),
    ("dosing_instruction", "Suggested use: 2 to 4 g in water on an empty stomach.", {D}),
    ("drug_combination", "I take kratom with my Lexapro every day and have never had a problem.", {S}),
    ("drug_combination", "Eh I have 2-3 beers with kratom most weekends and it's fine, just don't go crazy.", {D, S}),
    ("drug_combination", "Mellow Mariner Kava + Kratom Tonic - 12 fl oz", {D}),
    ("drug_combination", "Per scoop: 200 mg caffeine and 1 g white kratom leaf, stirred into your pre-workout.", {D}),
    ("wellbeing_claim", "Our white maeng da boosts energy and focus.", {E}),
    ("wellbeing_claim", "Red bali has relaxing effects that help you unwind.", {E}),
    ("wellbeing_claim", "It lifts your mood and improves motivation.", {E}),
    ("unsupported_evidence", "Studies show kratom eases pain.", {E}),
    ("unsupported_evidence", "Research suggests it may lift mood.", {E}),
    ("unsupported_evidence", "Experts agree it is a useful botanical.", {E}),
]

NEAR_MISS = [
    ("disease_claim", "There is no evidence that kratom treats depression.", {E}),
    ("disease_claim", "Vendors market it as a cure for anxiety, a claim the FDA rejects.", {E}),
    ("disease_claim", "Kratom does not cure chronic pain.", {E}),
    ("disease_claim", "Researchers are studying whether it eases pain.", {E}),
    ("opioid_substitution", "Do not use kratom to self-treat opioid withdrawal.", {E, S}),
    ("opioid_substitution", "The FDA rejected claims that kratom eases withdrawal.", {E}),
    ("opioid_substitution", "Kratom is not a safe substitute for prescribed opioids.", {E, S}),
    ("safety_assurance", "Kratom is not safe for everyone.", {S}),
    ("safety_assurance", "The idea that natural means harmless is a myth.", {S}),
    ("safety_assurance", "Is kratom safe?", {S}),
    ("absolute_claim", "Never mix kratom with alcohol.", {S}),
    ("absolute_claim", "There is no miracle cure for chronic pain.", {E}),
    ("absolute_claim", "Claims that it cures cancer are false.", {E}),
    ("drug_combination", "Never combine kratom with alcohol or benzodiazepines.", {S}),
    ("drug_combination", "Mixing kratom with opioids can be fatal.", {S}),
    ("drug_combination", "Avoid pairing it with antidepressants.", {S}),
    ("drug_combination", "There are no known interactions studied yet, so never mix it with alcohol.", {S}),
    ("drug_combination", "Don't take kratom with your blood pressure pills; they may interact.", {S}),
    ("vulnerable_population", "Do not use kratom if you are pregnant or breastfeeding.", {S}),
    ("vulnerable_population", "Keep out of reach of children.", {S}),
    ("vulnerable_population", "Newborns exposed during pregnancy can suffer withdrawal.", {S}),
    ("dosing_instruction", "Participants received 20 mg/kg of mitragynine.", {D}),
    ("dosing_instruction", "He had been taking 30 grams a day before the seizure.", {D, S}),
    ("dosing_instruction", "Buprenorphine doses of 8 to 16 mg are typical in treatment.", {D}),
    ("wellbeing_claim", "There is no evidence it improves mood.", {E}),
    ("wellbeing_claim", "Sellers promote it as a way to boost energy.", {E}),
    ("wellbeing_claim", "Kratom does not help you focus.", {E}),
    ("unsupported_evidence", "A 2020 study in the Journal of Psychopharmacology found it eases pain.", {E}),
    ("unsupported_evidence", "Research by Johns Hopkins suggests users take it for pain.", {E}),
    ("unsupported_evidence", "More research is needed on its effects.", {E}),
]


def flags_of(policy, text: str, labels: set[str]) -> dict[str, list[str]]:
    n = normalize_with_map(text)
    return {f.code: [text[a:b] for a, b in f.evidence] for f in policy.flag_sentence(n, labels, {}, {})}


@pytest.mark.parametrize(("code", "text", "labels"), RAISE)
def test_flag_is_raised_with_evidence(policy, code, text, labels):
    got = flags_of(policy, text, labels)
    assert code in got, got
    assert all(ev and ev in text for ev in got[code])


@pytest.mark.parametrize(("code", "text", "labels"), NEAR_MISS)
def test_near_miss_does_not_raise(policy, code, text, labels):
    assert code not in flags_of(policy, text, labels)


def test_every_flag_has_three_positive_and_three_near_miss_cases(policy):
    for rule in policy.rules:
        assert sum(c == rule.code for c, _, _ in RAISE) >= 3, rule.code
        assert sum(c == rule.code for c, _, _ in NEAR_MISS) >= 3, rule.code


def test_a_flag_needs_its_label(policy):
    assert "disease_claim" not in flags_of(policy, "Kratom cures anxiety.", {S})


def test_model_likelihood_raises_a_flag_only_where_evidence_shows(policy):
    n = normalize_with_map("This leaf is the answer for my arthritis.")
    raised = policy.flag_sentence(n, {E}, {"disease_claim": 0.9}, {"disease_claim": 0.5})
    at = n.text.index("arthritis")
    assert [(f.code, f.evidence) for f in raised] == [("disease_claim", ((at, at + 9),))]
    none = policy.flag_sentence(normalize_with_map("This leaf is the answer."), {E},
                                {"disease_claim": 0.9}, {"disease_claim": 0.5})
    assert none == []


@pytest.mark.parametrize(
    ("severities", "level"),
    [([], "none"), (["low"], "low"), (["low", "medium"], "medium"), (["medium", "high", "low"], "high")],
)
def test_risk_level_is_the_highest_severity_and_score_grows_with_flags(policy, severities, level):
    got_level, score = policy.risk(severities)
    assert got_level == level
    assert 0 <= score <= 1
    assert score == 0 if not severities else score > policy.risk(severities[:-1])[1]


def test_missing_disclaimer_needs_a_claim_flag_and_no_disclaimer(policy):
    assert [f.code for f in policy.document_verdict(["disease_claim"], False)] == ["missing_disclaimer"]
    assert policy.document_verdict(["disease_claim"], True) == []
    assert policy.document_verdict(["unsupported_evidence"], False) == []


@pytest.mark.parametrize(
    "text",
    ["Consult your doctor before use.", "These statements have not been evaluated by the FDA.",
     "This product is not intended to diagnose, treat, cure or prevent any disease.",
     "Talk with a healthcare provider first."],
)
def test_disclaimers_are_recognised(policy, text):
    assert policy.has_disclaimer(normalize_with_map(text))


def test_a_publisher_policy_file_replaces_cues_and_messages(tmp_path):
    default = Path(__file__).parents[2] / "service" / "analysis" / "policy.toml"
    custom = tmp_path / "policy.toml"
    text = re.sub(r'^version = ".*"$', 'version = "acme-1"', default.read_text(), count=1, flags=re.M)
    text = re.sub(r'(\[flags\.wellbeing_claim\]\nseverity = )"medium"', r'\1"high"', text)
    custom.write_text(text)
    p = load_policy(custom)
    assert p.version == "acme-1" and p.rule("wellbeing_claim").severity == "high"


@pytest.mark.parametrize(
    ("mutation", "message"),
    [(lambda t: t.replace('severity = "high"', 'severity = "extreme"', 1), "severity"),
     (lambda t: t.replace("[flags.unsupported_evidence]", "[flags.other]"), "missing"),
     (lambda t: t.replace("'\\bet al\\b'", "'(unclosed'"), "bad pattern"),
     (lambda t: t + "\nnot toml [", "cannot read")],
)
def test_an_invalid_policy_file_is_refused_with_a_reason(tmp_path, mutation, message):
    default = Path(__file__).parents[2] / "service" / "analysis" / "policy.toml"
    bad = tmp_path / "policy.toml"
    bad.write_text(mutation(default.read_text()))
    with pytest.raises(PolicyError, match=message):
        load_policy(bad)


def test_a_strong_cue_needs_the_models_floor_and_a_question_needs_a_sure_model(policy):
    def codes(text, likelihood, thresholds, floors=None):
        raised = policy.flag_sentence(normalize_with_map(text), {E}, {"disease_claim": likelihood},
                                      thresholds, floors)
        return "disease_claim" in {f.code for f in raised}

    assert not codes("Kratom cures anxiety.", 0.1, {}, {"disease_claim": 0.2})
    assert codes("Kratom cures anxiety.", 0.3, {}, {"disease_claim": 0.2})
    assert not codes("Does kratom cure anxiety?", 0.8, {"disease_claim": 0.5})
    assert codes("Does kratom cure anxiety?", 0.95, {"disease_claim": 0.5})


def test_serving_decisions_equal_the_candidates_training_tunes_on(policy, seed_text):
    import random

    rng = random.Random(0)
    texts = [*seed_text.splitlines(), *(t for _, t, _ in RAISE), *(t for _, t, _ in NEAR_MISS)]
    for text in texts:
        n = normalize_with_map(text)
        labels = {E, M, D, S}
        lik = {r.code: rng.random() for r in policy.rules}
        th = {r.code: rng.random() for r in policy.rules}
        fl = {r.code: rng.random() for r in policy.rules}
        alone = {r.code: rng.random() for r in policy.rules}
        served = {f.code: f.evidence for f in policy.flag_sentence(n, labels, lik, th, fl, alone)}
        tuned = {}
        candidates = policy.candidates(n, labels)
        for code, c in candidates.items():
            spans = c.decide(lik[code], th[code], fl[code])
            if spans:
                tuned[code] = tuple(n.to_original(a, b) for a, b in sorted(spans))
        question = n.text.rstrip().endswith("?")
        for rule in policy.rules:  # training's model-only path: label present, not a question, not suppressed
            if (rule.code not in tuned and not question and lik[rule.code] >= alone[rule.code]
                    and not policy.suppressed(rule.code, n.text)):
                tuned[rule.code] = ()
        assert set(served) == set(tuned), text


def test_the_model_alone_raises_a_flag_no_cue_explains_with_the_located_words(policy):
    text = "Honestly this leaf gave me my life back."
    n = normalize_with_map(text)
    assert "disease_claim" not in policy.candidates(n, {E}) and not policy.suppressed("disease_claim", n.text)
    at = n.text.index("life")

    def raised(likelihood, labels=frozenset({E}), sentence=n, locate=lambda code, t: [(at, at + 4)], **kw):
        found = policy.flag_sentence(sentence, labels, {"disease_claim": likelihood}, {"disease_claim": 0.5},
                                     {}, kw.get("alone", {"disease_claim": 0.9}), locate)
        return {f.code: f.evidence for f in found}

    assert raised(0.95) == {"disease_claim": ((at, at + 4),)}
    assert raised(0.85) == {}  # under the model-only threshold
    assert raised(0.95, alone={}) == {}  # no threshold: the path is off (models trained before it)
    assert raised(0.95, labels={S}) == {}  # the flag still needs its label
    assert raised(0.95, locate=None) == {"disease_claim": ((0, len(text)),)}  # the whole sentence
    question = normalize_with_map("Honestly, could this leaf give me my life back?")
    assert raised(0.95, sentence=question) == {}
    negated = normalize_with_map("There is no evidence this leaf gave anyone their life back.")
    assert policy.suppressed("disease_claim", negated.text)
    assert raised(0.99, sentence=negated) == {}
