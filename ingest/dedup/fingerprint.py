"""Pure fingerprints of one article: body hash, MinHash signature, LSH band keys, title key.

Why pure and separate: every worker must compute byte-identical fingerprints from the same text,
so this module depends only on the text and the configured sizes (no clock, no process state).
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from datasketch import MinHash

from ingest import arabic

MINHASH_SEED = 1  # seed and scheme are part of the fingerprint format: changing either invalidates
MINHASH_SCHEME = "affine32"  # every stored signature (values fit uint32, stored as 4 bytes each)
MIN_BODY_WORDS = 5  # below this a body hash or shingle set says nothing about the text
# A headline longer than this is a broken page (a whole body in <title>): only its start is a key.
# Bounded before it is stored, so a 40 KB "title" cannot exceed Lucene's 32 KB keyword term limit.
MAX_TITLE_KEY_WORDS = 48
MAX_TITLE_KEY_CHARS = 512

# Labels that outlets put before a headline ("رأي | ...", "عاجل: ..."): not part of the story.
_TITLE_LABELS = (
    "رأي",
    "راي",
    "مقال",
    "تحليل",
    "عاجل",
    "خاص",
    "فيديو",
    "بالفيديو",
    "شاهد",
    "بالصور",
    "صور",
    "حصري",
    "انفوجراف",
    "opinion",
    "analysis",
    "breaking",
    "exclusive",
    "video",
    "watch",
)
_LABEL_PREFIX = re.compile(r"^\s*(?:" + "|".join(_TITLE_LABELS) + r")\s*[|:：\-–—]\s*", re.IGNORECASE)
_PIPE_PREFIX = re.compile(r"^\s*[^\s|]+(?:\s+[^\s|]+)?\s+\|\s+")  # "كتاب | ...": at most two words
_SITE_SUFFIX = re.compile(r"\s+[|\-–—]\s+[^|\-–—]{1,40}$")


@dataclass(frozen=True)
class Fingerprint:
    """What dedup compares; ``sig`` is the MinHash signature (uint32 values)."""

    content_hash: str
    title_key: str
    sig: tuple[int, ...]
    lsh: tuple[str, ...]
    n_shingles: int
    n_words: int

    @property
    def has_body(self) -> bool:
        return self.n_words >= MIN_BODY_WORDS

    def sig_b64(self) -> str:
        return base64.b64encode(np.asarray(self.sig, dtype="<u4").tobytes()).decode("ascii")


def sig_from_b64(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in np.frombuffer(base64.b64decode(text), dtype="<u4"))


def content_hash(words: list[str]) -> str:
    """Hash of the normalised body: copies differing only in spelling/punctuation collide."""
    return hashlib.sha256(" ".join(words).encode("utf-8")).hexdigest()[:32]


def strip_title(title: str, site_names: tuple[str, ...] = ()) -> str:
    """Drop "Opinion |"-style labels and " - Site name" suffixes, repeatedly."""
    previous = None
    while previous != title:
        previous = title
        for name in site_names:
            if name and title.endswith(name) and len(title) > len(name) + 10:
                title = title[: -len(name)].rstrip(" |-–—:")
        match = _SITE_SUFFIX.search(title)
        if match and len(match.group(0).split()) <= 4 and match.start() > 10:  # sep + <= 3 words
            title = title[: match.start()]
        title = _PIPE_PREFIX.sub("", _LABEL_PREFIX.sub("", title))
    return title.strip()


def title_key(title: str, site_names: tuple[str, ...] = ()) -> str:
    """Normalised headline words, bounded (MAX_TITLE_KEY_*) so the keyword always indexes."""
    words = arabic.tokens(strip_title(title[: 20 * MAX_TITLE_KEY_CHARS], site_names))
    return " ".join(words[:MAX_TITLE_KEY_WORDS])[:MAX_TITLE_KEY_CHARS]


@lru_cache(maxsize=4)
def _permutations(num_perm: int) -> object:
    return MinHash(num_perm=num_perm, seed=MINHASH_SEED, scheme=MINHASH_SCHEME).permutations


def minhash(shingles: set[str], num_perm: int) -> tuple[int, ...]:
    m = MinHash(
        num_perm=num_perm, seed=MINHASH_SEED, permutations=_permutations(num_perm), scheme=MINHASH_SCHEME
    )
    m.update_batch([s.encode("utf-8") for s in sorted(shingles)])
    return tuple(int(v) for v in m.hashvalues)


def band_keys(sig: tuple[int, ...], bands: int) -> tuple[str, ...]:
    """One key per LSH band: ``b<i>-<hash of the band's rows>``; equal keys = candidate pair."""
    rows = len(sig) // bands
    keys = []
    for b in range(bands):
        chunk = np.asarray(sig[b * rows : (b + 1) * rows], dtype="<u4").tobytes()
        keys.append(f"b{b}-{hashlib.blake2b(chunk, digest_size=8).hexdigest()}")
    return tuple(keys)


def fingerprint(
    title: str, body: str, *, shingle_size: int, num_perm: int, bands: int, site_names: tuple[str, ...] = ()
) -> Fingerprint:
    words = arabic.tokens(body)
    if len(words) < MIN_BODY_WORDS:
        return Fingerprint("", title_key(title, site_names), (), (), 0, len(words))
    grams = arabic.shingles(words, shingle_size)
    sig = minhash(grams, num_perm)
    return Fingerprint(
        content_hash(words), title_key(title, site_names), sig, band_keys(sig, bands), len(grams), len(words)
    )


def jaccard(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    """MinHash estimate of the Jaccard similarity of the two shingle sets."""
    if not a or len(a) != len(b):
        return 0.0
    return float(np.count_nonzero(np.asarray(a) == np.asarray(b))) / len(a)


def containment(j: float, n_a: int, n_b: int) -> float:
    """|A∩B| / min(|A|,|B|) derived from Jaccard and the set sizes (shortened or padded copies)."""
    if j <= 0 or min(n_a, n_b) == 0:
        return 0.0
    inter = j * (n_a + n_b) / (1.0 + j)
    return min(1.0, inter / min(n_a, n_b))
