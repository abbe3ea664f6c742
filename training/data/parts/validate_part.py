"""Check one corpus part file: schema, allowed values, duplicates, counts (helper for corpus writers)."""
import collections
import json
import sys

LABELS = {"efficacy", "mechanism", "dosing", "safety"}
FLAGS = {"disease_claim", "opioid_substitution", "safety_assurance", "absolute_claim",
         "drug_combination", "vulnerable_population", "dosing_instruction",
         "wellbeing_claim", "unsupported_evidence"}
STYLES = {"vendor", "seo_blog", "forum", "qa", "news", "regulatory", "drug_info",
          "harm_reduction", "study_abstract", "legal", "advocacy"}
# A flag only makes sense with the label it is about.
FLAG_NEEDS = {"disease_claim": "efficacy", "wellbeing_claim": "efficacy",
              "dosing_instruction": "dosing", "safety_assurance": "safety"}

path = sys.argv[1]
errors, seen = [], {}
lab, flg, nm, sty, docs = (collections.Counter() for _ in range(5))
nolabel = 0
for n, line in enumerate(open(path, encoding="utf-8"), 1):
    if not line.strip():
        continue
    try:
        r = json.loads(line)
    except json.JSONDecodeError as e:
        errors.append(f"line {n}: bad JSON {e}")
        continue
    keys = set(r) - {"near_miss"}
    if keys != {"id", "doc_id", "text", "labels", "flags", "style"}:
        errors.append(f"line {n}: keys {sorted(r)}")
        continue
    if not set(r["labels"]) <= LABELS:
        errors.append(f"line {n}: bad label {r['labels']}")
    if not set(r["flags"]) <= FLAGS or not set(r.get("near_miss", [])) <= FLAGS:
        errors.append(f"line {n}: bad flag {r['flags']} / {r.get('near_miss')}")
    if r["style"] not in STYLES:
        errors.append(f"line {n}: bad style {r['style']}")
    for f, need in FLAG_NEEDS.items():
        if f in r["flags"] and need not in r["labels"]:
            errors.append(f"line {n}: flag {f} without label {need}: {r['text'][:60]}")
    if set(r["flags"]) & set(r.get("near_miss", [])):
        errors.append(f"line {n}: same code in flags and near_miss")
    key = " ".join(r["text"].lower().split())
    if key in seen:
        errors.append(f"line {n}: duplicate of line {seen[key]}: {r['text'][:60]}")
    seen[key] = n
    if r["id"] in {}:
        pass
    lab.update(r["labels"]); flg.update(r["flags"]); nm.update(r.get("near_miss", []))
    sty[r["style"]] += 1; docs[r["doc_id"]] += 1
    nolabel += not r["labels"]
print(f"rows {sum(sty.values())}  documents {len(docs)}  no-label {nolabel}")
print("styles", dict(sty))
print("labels", dict(lab))
print("flags", dict(flg))
print("near_miss", dict(nm))
print("\n".join(errors[:50]) or "no errors")
sys.exit(1 if errors else 0)
