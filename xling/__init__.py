"""xling: cross-lingual word embeddings.

Train monolingual vectors, map two spaces into one, retrieve translations and
measure bilingual lexicon induction, from Python or the ``xling`` command.
"""

from xling.alignment import Alignment
from xling.corpus import LineCorpus, ParallelCorpus, tokenize
from xling.embeddings import Embeddings
from xling.evaluate import bli, evaluate_many, format_table
from xling.exceptions import ConvergenceWarning, FormatError, NotEnoughDataError, XlingError
from xling.lexicon import Coverage, Lexicon
from xling.preprocessing import Normalizer, normalize
from xling.retrieval import csls, csls_terms, induce_pairs, inverted_softmax, knn, retrieve, topk_mean, translate
from xling.wordalign import WordAligner
from xling.workflow import AlignResult, align

__version__ = "0.1.0"

__all__ = [
    "align",
    "AlignResult",
    "Alignment",
    "Embeddings",
    "Lexicon",
    "Coverage",
    "LineCorpus",
    "ParallelCorpus",
    "WordAligner",
    "tokenize",
    "Normalizer",
    "normalize",
    "knn",
    "topk_mean",
    "csls",
    "csls_terms",
    "inverted_softmax",
    "retrieve",
    "induce_pairs",
    "translate",
    "bli",
    "evaluate_many",
    "format_table",
    "XlingError",
    "FormatError",
    "NotEnoughDataError",
    "ConvergenceWarning",
    "__version__",
]
