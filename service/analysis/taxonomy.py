"""The label and flag codes of docs/TAXONOMY.md, as the model and the policy use them."""

LABELS: tuple[str, ...] = ("efficacy", "mechanism", "dosing", "safety")
FLAGS: tuple[str, ...] = (
    "disease_claim", "opioid_substitution", "safety_assurance", "absolute_claim",
    "drug_combination", "vulnerable_population", "dosing_instruction",
    "wellbeing_claim", "unsupported_evidence",
)
# One model predicts the claim labels and, for the policy, each flag's likelihood.
OUTPUTS: tuple[str, ...] = LABELS + tuple(f"flag:{f}" for f in FLAGS)
