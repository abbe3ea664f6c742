/* The n-gram TF-IDF features of featurize.LinearScorer, scored against its
 * coefficients, in one pass per sentence.
 *
 * Same n-grams as scikit-learn's "word" (token pattern \b\w+\b) and "char_wb"
 * analysers, looked up in an open-addressing table of the fitted vocabulary;
 * counts, sublinear tf, idf and the l2 norm of each block as TfidfVectorizer
 * computes them; the normalised vector multiplied with the coefficients of
 * every output. The Python loop it replaces (featurize.LinearScorer.
 * _predict_chunk) remains the reference: tests compare the two.
 *
 * The GIL is held throughout: the scratch arrays belong to the scorer.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BLOCKS 8
#define PREFETCH 8
#define MAX_OUT 64
#define WORD 0
#define CHAR_WB 1

typedef struct {
    uint64_t hash;
    uint32_t off; /* into the pool */
    uint32_t len;
    int64_t col; /* -1: empty slot */
} Entry;

typedef struct {
    int analyzer;
    int min_n, max_n;
    int sublinear;
    Entry *slots;
    size_t mask;
    Py_UCS4 *pool;
    size_t pool_len;
} Block;

/* char_wb n-grams never cross words: each word's columns are cached, as in Python */
#define CACHE_SLOTS (1 << 16)
#define CACHE_WORDS (CACHE_SLOTS / 2)
#define CACHE_COLS (1 << 21)
#define CACHE_KEYS (1 << 22) /* code points of cached words */

typedef struct {
    uint64_t hash;
    uint32_t key_off, key_len; /* into keys */
    uint32_t col_off, col_len; /* into cols */
} CacheEntry;

typedef struct {
    CacheEntry *slots; /* key_len == UINT32_MAX: empty */
    Py_UCS4 *keys;
    Py_ssize_t keys_len, keys_cap;
    int64_t *cols;
    Py_ssize_t cols_len;
    Py_ssize_t words;
} WordCache;

typedef struct {
    PyObject_HEAD
    int n_blocks;
    Block blocks[MAX_BLOCKS];
    Py_buffer idf;  /* float64[n_cols] */
    Py_buffer coef; /* float64[n_cols][n_out], C-contiguous */
    Py_ssize_t n_cols, n_out;
    uint32_t *stamp; /* per column: the (text, block) pass that last counted it */
    uint32_t *count;
    int64_t *uniq;
    uint32_t epoch;
    Py_UCS4 *text;    /* scratch: the current text's code points */
    Py_ssize_t text_cap;
    Py_UCS4 *gram;    /* scratch: one n-gram */
    Py_ssize_t gram_cap;
    Py_ssize_t *tok;  /* scratch: token starts and lengths */
    Py_ssize_t tok_cap;
    int64_t *scratch; /* scratch: the columns of a word too long to cache */
    Py_ssize_t scratch_cap;
    WordCache cache[MAX_BLOCKS];
} Scorer;

static inline uint64_t hash_ucs4(const Py_UCS4 *s, Py_ssize_t n) {
    uint64_t h = 1469598103934665603ULL; /* FNV-1a over code points */
    for (Py_ssize_t i = 0; i < n; i++) {
        h ^= (uint64_t)s[i];
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

static int grow(void **p, Py_ssize_t *cap, Py_ssize_t need, size_t size) {
    if (need <= *cap)
        return 0;
    Py_ssize_t n = *cap ? *cap : 256;
    while (n < need)
        n *= 2;
    void *q = PyMem_Realloc(*p, (size_t)n * size);
    if (!q) {
        PyErr_NoMemory();
        return -1;
    }
    *p = q;
    *cap = n;
    return 0;
}

static inline int same(const Py_UCS4 *a, const Py_UCS4 *b, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return 0;
    return 1;
}

static inline int64_t lookup(const Block *b, const Py_UCS4 *s, Py_ssize_t n) {
    uint64_t h = hash_ucs4(s, n);
    size_t i = (size_t)h & b->mask;
    for (;;) {
        const Entry *e = &b->slots[i];
        if (e->col < 0)
            return -1;
        if (e->hash == h && e->len == (uint32_t)n && same(b->pool + e->off, s, n))
            return e->col;
        i = (i + 1) & b->mask;
    }
}

static int block_init(Block *b, PyObject *terms, Py_ssize_t offset) {
    Py_ssize_t n = PyList_GET_SIZE(terms);
    size_t cap = 16;
    while (cap < (size_t)n * 2 + 1)
        cap *= 2;
    b->slots = PyMem_Malloc(cap * sizeof(Entry));
    if (!b->slots) {
        PyErr_NoMemory();
        return -1;
    }
    for (size_t i = 0; i < cap; i++)
        b->slots[i].col = -1;
    b->mask = cap - 1;
    size_t total = 0;
    for (Py_ssize_t k = 0; k < n; k++) {
        PyObject *t = PyList_GET_ITEM(terms, k);
        if (!PyUnicode_Check(t)) {
            PyErr_SetString(PyExc_TypeError, "terms must be str");
            return -1;
        }
        total += (size_t)PyUnicode_GET_LENGTH(t);
    }
    if (total > UINT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "vocabulary too large");
        return -1;
    }
    b->pool = PyMem_Malloc((total ? total : 1) * sizeof(Py_UCS4));
    if (!b->pool) {
        PyErr_NoMemory();
        return -1;
    }
    size_t off = 0;
    for (Py_ssize_t k = 0; k < n; k++) {
        PyObject *t = PyList_GET_ITEM(terms, k);
        Py_ssize_t len = PyUnicode_GET_LENGTH(t);
        if (!PyUnicode_AsUCS4(t, b->pool + off, len, 0))
            return -1;
        if (lookup(b, b->pool + off, len) >= 0) {
            PyErr_Format(PyExc_ValueError, "duplicate term %R", t);
            return -1;
        }
        uint64_t h = hash_ucs4(b->pool + off, len);
        size_t i = (size_t)h & b->mask;
        while (b->slots[i].col >= 0)
            i = (i + 1) & b->mask;
        b->slots[i] = (Entry){h, (uint32_t)off, (uint32_t)len, (int64_t)(offset + k)};
        off += (size_t)len;
    }
    b->pool_len = off;
    return 0;
}

static inline void count_col(Scorer *s, int64_t col, Py_ssize_t *n_uniq) {
    if (col < 0)
        return;
    if (s->stamp[col] != s->epoch) {
        s->stamp[col] = s->epoch;
        s->count[col] = 1;
        s->uniq[(*n_uniq)++] = col;
    } else {
        s->count[col]++;
    }
}

static inline int is_word(Py_UCS4 c) {
    if (c < 128)
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || c == '_';
    return Py_UNICODE_ISALNUM(c);
}

static inline int is_space(Py_UCS4 c) {
    if (c < 128)
        return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
    return Py_UNICODE_ISSPACE(c);
}

static void cache_clear(WordCache *c) {
    for (size_t i = 0; i < CACHE_SLOTS; i++)
        c->slots[i].key_len = UINT32_MAX;
    c->keys_len = 0;
    c->cols_len = 0;
    c->words = 0;
}

static int cache_init(WordCache *c) {
    c->slots = PyMem_Malloc(CACHE_SLOTS * sizeof(CacheEntry));
    c->cols = PyMem_Malloc(CACHE_COLS * sizeof(int64_t));
    if (!c->slots || !c->cols) {
        PyErr_NoMemory();
        return -1;
    }
    cache_clear(c);
    return 0;
}

static void cache_free(WordCache *c) {
    PyMem_Free(c->slots);
    PyMem_Free(c->keys);
    PyMem_Free(c->cols);
}

/* The columns of word[0:n]'s char_wb n-grams (looked up once, then cached) counted. */
static int count_word(Scorer *s, const Block *b, WordCache *c, const Py_UCS4 *word, Py_ssize_t n,
                      Py_ssize_t *n_uniq) {
    uint64_t h = hash_ucs4(word, n);
    size_t i = (size_t)h & (CACHE_SLOTS - 1);
    for (;;) {
        CacheEntry *e = &c->slots[i];
        if (e->key_len == UINT32_MAX)
            break;
        if (e->hash == h && e->key_len == (uint32_t)n && same(c->keys + e->key_off, word, n)) {
            for (uint32_t k = 0; k < e->col_len; k++)
                count_col(s, c->cols[e->col_off + k], n_uniq);
            return 0;
        }
        i = (i + 1) & (CACHE_SLOTS - 1);
    }
    Py_ssize_t size = n + 2;
    Py_ssize_t grams = 0;
    for (int g = b->min_n; g <= b->max_n; g++) {
        grams += g >= size ? 1 : size - g + 1;
        if (g >= size)
            break;
    }
    int cached = grams <= CACHE_COLS / 4; /* a giant "word" is counted, never cached */
    if (cached && (c->words >= CACHE_WORDS || c->cols_len + grams > CACHE_COLS || c->keys_len + n > CACHE_KEYS)) {
        cache_clear(c); /* bounded memory; the common words come back at once */
        i = (size_t)h & (CACHE_SLOTS - 1);
    }
    if (grow((void **)&s->gram, &s->gram_cap, size, sizeof(Py_UCS4)) < 0 ||
        (cached && grow((void **)&c->keys, &c->keys_cap, c->keys_len + n, sizeof(Py_UCS4)) < 0) ||
        (!cached && grow((void **)&s->scratch, &s->scratch_cap, grams, sizeof(int64_t)) < 0))
        return -1;
    Py_UCS4 *w = s->gram;
    w[0] = ' ';
    memcpy(w + 1, word, (size_t)n * sizeof(Py_UCS4));
    w[size - 1] = ' ';
    int64_t *cols = cached ? c->cols + c->cols_len : s->scratch;
    Py_ssize_t found = 0;
    for (int g = b->min_n; g <= b->max_n; g++) {
        if (g >= size) { /* a short word counts once, whole */
            int64_t col = lookup(b, w, size);
            if (col >= 0)
                cols[found++] = col;
            break;
        }
        for (Py_ssize_t k = 0; k + g <= size; k++) {
            int64_t col = lookup(b, w + k, g);
            if (col >= 0)
                cols[found++] = col;
        }
    }
    if (cached) {
        memcpy(c->keys + c->keys_len, word, (size_t)n * sizeof(Py_UCS4));
        c->slots[i] = (CacheEntry){h, (uint32_t)c->keys_len, (uint32_t)n, (uint32_t)c->cols_len, (uint32_t)found};
        c->keys_len += n;
        c->cols_len += found;
        c->words++;
    }
    for (Py_ssize_t k = 0; k < found; k++)
        count_col(s, cols[k], n_uniq);
    return 0;
}

/* The columns of one block's n-grams of text[0:n], counted into stamp/count/uniq. */
static int block_count(Scorer *s, const Block *b, const Py_UCS4 *t, Py_ssize_t n, Py_ssize_t *n_uniq) {
    if (b->analyzer == WORD) {
        Py_ssize_t n_tok = 0;
        for (Py_ssize_t i = 0; i < n;) {
            if (!is_word(t[i])) {
                i++;
                continue;
            }
            Py_ssize_t j = i;
            while (j < n && is_word(t[j]))
                j++;
            if (grow((void **)&s->tok, &s->tok_cap, 2 * (n_tok + 1), sizeof(Py_ssize_t)) < 0)
                return -1;
            s->tok[2 * n_tok] = i;
            s->tok[2 * n_tok + 1] = j - i;
            n_tok++;
            i = j;
        }
        for (int g = b->min_n; g <= b->max_n && g <= n_tok; g++) {
            for (Py_ssize_t k = 0; k + g <= n_tok; k++) {
                if (g == 1) {
                    count_col(s, lookup(b, t + s->tok[2 * k], s->tok[2 * k + 1]), n_uniq);
                    continue;
                }
                /* tokens k..k+g-1 joined by single spaces */
                Py_ssize_t len = g - 1;
                for (int m = 0; m < g; m++)
                    len += s->tok[2 * (k + m) + 1];
                if (grow((void **)&s->gram, &s->gram_cap, len, sizeof(Py_UCS4)) < 0)
                    return -1;
                Py_ssize_t p = 0;
                for (int m = 0; m < g; m++) {
                    if (m)
                        s->gram[p++] = ' ';
                    memcpy(s->gram + p, t + s->tok[2 * (k + m)], (size_t)s->tok[2 * (k + m) + 1] * sizeof(Py_UCS4));
                    p += s->tok[2 * (k + m) + 1];
                }
                count_col(s, lookup(b, s->gram, len), n_uniq);
            }
        }
        return 0;
    }
    /* char_wb: each whitespace-separated word padded with one space each side */
    for (Py_ssize_t i = 0; i < n;) {
        if (is_space(t[i])) {
            i++;
            continue;
        }
        Py_ssize_t j = i;
        while (j < n && !is_space(t[j]))
            j++;
        if (count_word(s, b, &s->cache[b - s->blocks], t + i, j - i, n_uniq) < 0)
            return -1;
        i = j;
    }
    return 0;
}

static void next_epoch(Scorer *s) {
    if (++s->epoch == 0) { /* wrapped: forget every stamp */
        memset(s->stamp, 0, (size_t)s->n_cols * sizeof(uint32_t));
        s->epoch = 1;
    }
}

static PyObject *Scorer_score(Scorer *s, PyObject *args) {
    PyObject *texts;
    Py_buffer out;
    if (!PyArg_ParseTuple(args, "Ow*", &texts, &out))
        return NULL;
    PyObject *seq = PySequence_Fast(texts, "texts must be a sequence");
    if (!seq) {
        PyBuffer_Release(&out);
        return NULL;
    }
    Py_ssize_t n_texts = PySequence_Fast_GET_SIZE(seq);
    if (out.len != (Py_ssize_t)(n_texts * s->n_out * (Py_ssize_t)sizeof(double))) {
        PyErr_SetString(PyExc_ValueError, "out must hold len(texts) x n_outputs float64 values");
        goto fail;
    }
    double *z = out.buf;
    const double *idf = s->idf.buf, *coef = s->coef.buf;
    Py_ssize_t n_out = s->n_out;
    for (Py_ssize_t r = 0; r < n_texts; r++) {
        PyObject *text = PySequence_Fast_GET_ITEM(seq, r);
        if (!PyUnicode_Check(text)) {
            PyErr_SetString(PyExc_TypeError, "texts must be str");
            goto fail;
        }
        Py_ssize_t n = PyUnicode_GET_LENGTH(text);
        if (grow((void **)&s->text, &s->text_cap, n + 1, sizeof(Py_UCS4)) < 0)
            goto fail;
        if (!PyUnicode_AsUCS4(text, s->text, s->text_cap, 0))
            goto fail;
        for (int bi = 0; bi < s->n_blocks; bi++) {
            const Block *b = &s->blocks[bi];
            Py_ssize_t n_uniq = 0;
            next_epoch(s);
            if (block_count(s, b, s->text, n, &n_uniq) < 0)
                goto fail;
            if (!n_uniq)
                continue;
            double norm2 = 0.0;
            double acc[MAX_OUT] = {0.0};
            for (Py_ssize_t u = 0; u < n_uniq; u++) {
                int64_t col = s->uniq[u];
                if (u + PREFETCH < n_uniq) { /* the rows are scattered over megabytes: ask early */
                    const char *ahead = (const char *)(coef + s->uniq[u + PREFETCH] * n_out);
                    __builtin_prefetch(ahead);
                    __builtin_prefetch(ahead + n_out * sizeof(double) - 1);
                }
                double tf = (double)s->count[col];
                if (b->sublinear)
                    tf = log(tf) + 1.0;
                double w = tf * idf[col];
                norm2 += w * w;
                const double *c = coef + col * n_out;
                for (Py_ssize_t k = 0; k < n_out; k++)
                    acc[k] += w * c[k];
            }
            if (norm2 > 0.0) {
                double inv = 1.0 / sqrt(norm2);
                for (Py_ssize_t k = 0; k < n_out; k++)
                    z[r * n_out + k] += acc[k] * inv;
            }
        }
    }
    Py_DECREF(seq);
    PyBuffer_Release(&out);
    Py_RETURN_NONE;
fail:
    Py_DECREF(seq);
    PyBuffer_Release(&out);
    return NULL;
}

static PyObject *Scorer_clear_cache(Scorer *s, PyObject *Py_UNUSED(ignored)) {
    for (int i = 0; i < s->n_blocks; i++)
        if (s->cache[i].slots)
            cache_clear(&s->cache[i]);
    Py_RETURN_NONE;
}

static void Scorer_dealloc(Scorer *s) {
    for (int i = 0; i < s->n_blocks; i++) {
        PyMem_Free(s->blocks[i].slots);
        PyMem_Free(s->blocks[i].pool);
        cache_free(&s->cache[i]);
    }
    if (s->idf.obj)
        PyBuffer_Release(&s->idf);
    if (s->coef.obj)
        PyBuffer_Release(&s->coef);
    PyMem_Free(s->stamp);
    PyMem_Free(s->count);
    PyMem_Free(s->uniq);
    PyMem_Free(s->text);
    PyMem_Free(s->gram);
    PyMem_Free(s->tok);
    PyMem_Free(s->scratch);
    Py_TYPE(s)->tp_free((PyObject *)s);
}

/* NgramScorer(blocks, idf, coef): blocks is a list of
 * (analyzer, min_n, max_n, sublinear, offset, terms), terms in column order. */
static int Scorer_init(Scorer *s, PyObject *args, PyObject *kwds) {
    PyObject *blocks;
    static char *kwlist[] = {"blocks", "idf", "coef", NULL};
    if (s->n_blocks || s->idf.obj) {
        PyErr_SetString(PyExc_RuntimeError, "NgramScorer is initialised once");
        return -1;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!y*y*", kwlist, &PyList_Type, &blocks, &s->idf, &s->coef))
        return -1;
    Py_ssize_t nb = PyList_GET_SIZE(blocks);
    if (nb > MAX_BLOCKS) {
        PyErr_SetString(PyExc_ValueError, "too many blocks");
        return -1;
    }
    s->n_cols = s->idf.len / (Py_ssize_t)sizeof(double);
    if (s->n_cols == 0 || s->coef.len % (s->n_cols * (Py_ssize_t)sizeof(double))) {
        PyErr_SetString(PyExc_ValueError, "coef must be n_columns x n_outputs float64, idf n_columns float64");
        return -1;
    }
    s->n_out = s->coef.len / (s->n_cols * (Py_ssize_t)sizeof(double));
    if (s->n_out < 1 || s->n_out > MAX_OUT) {
        PyErr_Format(PyExc_ValueError, "between 1 and %d outputs are supported", MAX_OUT);
        return -1;
    }
    for (Py_ssize_t i = 0; i < nb; i++) {
        const char *analyzer;
        int min_n, max_n, sublinear;
        Py_ssize_t offset;
        PyObject *terms;
        if (!PyArg_ParseTuple(PyList_GET_ITEM(blocks, i), "siipnO!", &analyzer, &min_n, &max_n, &sublinear,
                              &offset, &PyList_Type, &terms))
            return -1;
        Block *b = &s->blocks[i];
        if (strcmp(analyzer, "word") == 0)
            b->analyzer = WORD;
        else if (strcmp(analyzer, "char_wb") == 0)
            b->analyzer = CHAR_WB;
        else {
            PyErr_Format(PyExc_ValueError, "unknown analyzer %s", analyzer);
            return -1;
        }
        if (min_n < 1 || max_n < min_n || offset < 0 || offset + PyList_GET_SIZE(terms) > s->n_cols) {
            PyErr_SetString(PyExc_ValueError, "bad n-gram range or columns outside idf");
            return -1;
        }
        b->min_n = min_n;
        b->max_n = max_n;
        b->sublinear = sublinear;
        s->n_blocks = (int)i + 1; /* so dealloc frees what block_init allocated */
        if (block_init(b, terms, offset) < 0 || (b->analyzer == CHAR_WB && cache_init(&s->cache[i]) < 0))
            return -1;
    }
    s->stamp = PyMem_Calloc((size_t)s->n_cols, sizeof(uint32_t));
    s->count = PyMem_Calloc((size_t)s->n_cols, sizeof(uint32_t));
    s->uniq = PyMem_Calloc((size_t)s->n_cols, sizeof(int64_t));
    if (!s->stamp || !s->count || !s->uniq) {
        PyErr_NoMemory();
        return -1;
    }
    s->epoch = 0;
    return 0;
}

static PyMethodDef Scorer_methods[] = {
    {"score", (PyCFunction)Scorer_score, METH_VARARGS,
     "score(texts, out): add each text's n-gram TF-IDF features times coef to out (len(texts) x n_outputs)."},
    {"clear_cache", (PyCFunction)Scorer_clear_cache, METH_NOARGS, "Forget every cached word's n-gram columns."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ScorerType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "service.analysis._ngrams.NgramScorer",
    .tp_basicsize = sizeof(Scorer),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A fitted vocabulary, idf and coefficients; score() sums each text's weighted n-grams.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Scorer_init,
    .tp_dealloc = (destructor)Scorer_dealloc,
    .tp_methods = Scorer_methods,
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_ngrams", "Compiled n-gram TF-IDF scoring.", -1, NULL};

PyMODINIT_FUNC PyInit__ngrams(void) {
    if (PyType_Ready(&ScorerType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m)
        return NULL;
    Py_INCREF(&ScorerType);
    if (PyModule_AddObject(m, "NgramScorer", (PyObject *)&ScorerType) < 0) {
        Py_DECREF(&ScorerType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
