"""Every knob of the prepare stage in one resource, so a run's configuration is visible in the Dagster UI."""

from __future__ import annotations

import dagster as dg

from resources.prepare.normalise import NormaliseConfig


class PrepareConfig(dg.ConfigurableResource):
    """Normalisation switches, PII scrubbing, length limit, held-out split and row-accounting thresholds."""

    # normalisation (resources/prepare/normalise.py); unicode_form "" leaves the form alone
    unicode_form: str = "NFC"
    fix_mojibake: bool = True
    strip_html: bool = True
    normalise_whitespace: bool = True
    # replace personal data (names, addresses, e-mails, phones, IBANs, cards, ids, IPs, birth dates) in every text
    # field by typed placeholders numbered per conversation (resources/prepare/scrubber.py, SECURITY.md section 4)
    pii: bool = True
    # length limit in base-model tokens of the chat-formatted example (resources/prepare/trim.py)
    max_tokens: int = 512
    trim_mode: str = "truncate"    # "truncate" (cut the longest user message) or "drop"
    truncate_from: str = "middle"  # "middle" or "end" of the longest user message
    # held-out split by duplicate cluster (resources/prepare/split.py)
    eval_fraction: float = 0.1
    min_eval: int = 8
    split_seed: str = "privft-split-1"  # changing it reshuffles which clusters are held out
    stratify_by_task: bool = True
    # a second held-out set of products training never sees (resources/prepare/unseen.py): every duplicate
    # cluster mentioning one of these terms goes to eval_unseen.parquet; [] writes no such file
    unseen_terms: list[str] = []
    # decontamination (resources/prepare/containment.py): a training row containing a benchmark item's
    # decontaminate_ngram-gram, or decontaminate_short_share of a held-out or benchmark item's short n-grams, is removed
    decontaminate_ngram: int = 13
    decontaminate_short_ngram: int = 8
    decontaminate_short_share: float = 0.5
    decontaminate_boilerplate_items: int = 10  # n-grams in more items than this are the benchmark's boilerplate
    decontaminate_template_rows: int = 10      # held-out n-grams in more training rows than this are templates
    decontaminate_eval_long_ngram: bool = False  # any-13-gram rule for held-out items too (removes templated rows)
    # row accounting (resources/prepare/accounting.py): share of rejected rows per source that warns / fails
    reject_warn_rate: float = 0.05
    reject_fail_rate: float = 0.25

    def normalise_config(self) -> NormaliseConfig:
        return NormaliseConfig(unicode_form=self.unicode_form or None, fix_mojibake=self.fix_mojibake,
                               strip_html=self.strip_html, normalise_whitespace=self.normalise_whitespace)

    def containment_settings(self):
        from resources.prepare.containment import ContainmentSettings

        return ContainmentSettings(long_n=self.decontaminate_ngram, short_n=self.decontaminate_short_ngram,
                                   short_share=self.decontaminate_short_share,
                                   max_item_share=self.decontaminate_boilerplate_items)

    def check(self) -> "PrepareConfig":
        """Fail early, naming the field, instead of deep inside a run."""
        problems = []
        if self.trim_mode not in ("truncate", "drop"):
            problems.append(f"trim_mode {self.trim_mode!r}: use 'truncate' or 'drop'")
        if self.truncate_from not in ("middle", "end"):
            problems.append(f"truncate_from {self.truncate_from!r}: use 'middle' or 'end'")
        if self.max_tokens < 16:
            problems.append(f"max_tokens {self.max_tokens}: must be at least 16")
        if not 0.0 < self.eval_fraction < 1.0:
            problems.append(f"eval_fraction {self.eval_fraction}: must lie strictly between 0 and 1")
        if self.min_eval < 0:
            problems.append(f"min_eval {self.min_eval}: must not be negative")
        blank = [t for t in self.unseen_terms if not str(t).strip()]
        if blank:
            problems.append(f"unseen_terms {self.unseen_terms!r}: a term is blank and would match nothing; remove it")
        if not 0.0 <= self.reject_warn_rate <= self.reject_fail_rate <= 1.0:
            problems.append(f"reject rates warn={self.reject_warn_rate} fail={self.reject_fail_rate}: "
                            "need 0 <= warn <= fail <= 1")
        if not 0 < self.decontaminate_short_ngram <= self.decontaminate_ngram:
            problems.append(f"decontaminate n-grams short={self.decontaminate_short_ngram} "
                            f"long={self.decontaminate_ngram}: need 0 < short <= long")
        if not 0.0 < self.decontaminate_short_share <= 1.0:
            problems.append(f"decontaminate_short_share {self.decontaminate_short_share}: must lie in (0, 1]")
        if self.decontaminate_boilerplate_items < 1 or self.decontaminate_template_rows < 0:
            problems.append("decontaminate_boilerplate_items must be at least 1 and decontaminate_template_rows "
                            "not negative (0 turns the template filter off)")
        try:
            self.normalise_config()
        except ValueError as exc:
            problems.append(str(exc))
        if problems:
            raise ValueError("prepare configuration: " + "; ".join(problems))
        return self
