/* Plain decimal integers in text, parsed into float64: the one loop of the text readers.
 *
 * ecgspec reads CSV records and HL7 aECG digits as text: 60,000 numbers a 10 s 12-lead record.
 * NumPy's fastest parse of them (np.fromstring) takes longer than reading a binary record whole,
 * so the happy path is parsed here: a CSV body in one pass, HL7 digits in two a 64-byte block
 * (where the tokens start, then each token). GCC or Clang builds it (their bit-scan builtins);
 * without either, the install goes on without it. Each function gives the values as
 * a bytes object of native float64 (float32 where asked to scale them; np.frombuffer views it),
 * or None for any text that is not
 * exactly the layout it names; the Python reader then parses that text as before (NumPy), so
 * every rule and every error message stays in Python. A token is -?[0-9]+ of at most 2^53 - 1,
 * which float64 holds exactly; "-0" is -0.0, as NumPy's float parse gives it.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define EXACT ((int64_t)1 << 53) /* integers below it are all float64s */

/* The value of the n (1..7) digits at the start of x (8 bytes of text, minus '0' from each, the
 * first in the lowest byte): shifted to the top, they are an 8-digit number with leading zeros,
 * which three multiplications add up (digit pairs, then fours, then the eight). */
static int64_t swar_value(uint64_t x, int n)
{
    x <<= 8 * (8 - n);
    x = ((x & 0x0F0F0F0F0F0F0F0FULL) * 2561) >> 8;
    x = ((x & 0x00FF00FF00FF00FFULL) * 6553601) >> 16;
    return (int64_t)(((x & 0x0000FFFF0000FFFFULL) * 42949672960001ULL) >> 32);
}

/* The digits -?[0-9]+ at *p (p < end) one at a time: the slow path, for long numbers and a
 * number near the end of the text. */
static int token_slow(const unsigned char **p, const unsigned char *end, int64_t *value)
{
    const unsigned char *s = *p, *first = s;
    int64_t v = 0;
    while (s < end && (unsigned)(*s - '0') < 10) {
        v = v * 10 + (*s - '0');
        if (v >= EXACT)
            return 0;
        s++;
    }
    if (s == first)
        return 0;
    *value = v;
    *p = s;
    return 1;
}

/* The value of the n (1..7) digits of x (as swar_value): those of up to 4 in 32 bits, two steps. */
static inline int64_t digits_value(uint64_t x, int n)
{
    if (n <= 4) { /* (an ECG's numbers, most of the time: predicted) */
        uint32_t y = (uint32_t)x << (8 * (4 - n));
        y = ((y & 0x0F0F0F0FU) * 2561) >> 8;
        return (int64_t)(((y & 0x00FF00FFU) * 6553601) >> 16);
    }
    return swar_value(x, n);
}

/* One token -?[0-9]+ at *p (p < end): its value in *out, *p past it; 0 when there is none or it
 * reaches 2^53. Up to 7 digits in one 8-byte load, without a branch on the digits themselves
 * (the numbers of an ECG vary in length and sign from one to the next, which branches mispredict).
 * ``room``: the caller knows that 8 bytes past the sign are readable (then no test of it). */
static inline int token_at(const unsigned char **p, const unsigned char *end, double *out, int room)
{
    static const double signs[2] = {1.0, -1.0};
    const unsigned char *s = *p;
    int negative = *s == '-';
    s += negative;
    int64_t v;
    uint64_t x = 0, not_digit = 0;
    if (room || end - s >= 8) {
        memcpy(&x, s, 8);
        x -= 0x3030303030303030ULL;
        /* the high bit of each byte that is not a digit: 10..127 reach it by the add, the rest have it */
        not_digit = ((x + 0x7676767676767676ULL) | x) & 0x8080808080808080ULL;
    }
    if (not_digit) {
        int n = __builtin_ctzll(not_digit) >> 3;
        if (n == 0)
            return 0;
        v = digits_value(x, n);
        s += n;
    }
    else if (!token_slow(&s, end, &v)) {
        return 0;
    }
    *out = (double)v * signs[negative]; /* (the product keeps -0 negative) */
    *p = s;
    return 1;
}

static int token(const unsigned char **p, const unsigned char *end, double *out)
{
    return token_at(p, end, out, 0);
}

/* A bytes object sized for at most n float64s, and its data. */
static PyObject *values_for(Py_ssize_t n, double **data)
{
    PyObject *out = PyBytes_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(double));
    if (out != NULL)
        *data = (double *)PyBytes_AS_STRING(out);
    return out;
}

/* ``out`` cut to its first n values of ``size`` bytes (or None for n < 0, releasing it). */
static PyObject *finished(PyObject *out, Py_ssize_t n, size_t size)
{
    if (n < 0) {
        Py_DECREF(out);
        Py_RETURN_NONE;
    }
    if (_PyBytes_Resize(&out, n * (Py_ssize_t)size) < 0)
        return NULL;
    return out;
}

/* The number of values of a CSV body of n_cols-field rows, written to data; -1 for another layout. */
static Py_ssize_t csv_rows(const unsigned char *p, const unsigned char *end, Py_ssize_t n_cols, double *data)
{
    Py_ssize_t n = 0;
    if (p == end)
        return -1;
    while (p < end) {
        for (Py_ssize_t col = 0; col < n_cols; col++) {
            if (p >= end || !token(&p, end, data + n))
                return -1;
            n++;
            if (col + 1 < n_cols) {
                if (p >= end || *p != ',')
                    return -1;
                p++;
            }
        }
        if (p < end && *p == '\r')
            p++;
        if (p < end) {
            if (*p != '\n')
                return -1;
            p++;
        }
        else if (p[-1] == '\r')
            return -1; /* a lone CR at the end */
    }
    return n;
}

PyDoc_STRVAR(csv_integers_doc,
"csv_integers(body, n_cols) -> bytes | None\n\n"
"The float64 values of a CSV body of plain integers: -?[0-9]+ fields, one comma between,\n"
"n_cols a row, LF or CRLF lines, a final newline or not; None for any other body.");

static PyObject *csv_integers(PyObject *self, PyObject *args)
{
    Py_buffer text;
    Py_ssize_t n_cols;
    if (!PyArg_ParseTuple(args, "y*n", &text, &n_cols))
        return NULL;
    PyObject *out = NULL;
    if (n_cols > 0) {
        double *data;
        out = values_for(text.len / 2 + 1, &data); /* a value takes a digit and a separator */
        if (out != NULL) {
            const unsigned char *p = text.buf;
            Py_ssize_t n;
            Py_BEGIN_ALLOW_THREADS
            n = csv_rows(p, p + text.len, n_cols, data);
            Py_END_ALLOW_THREADS
            out = finished(out, n, sizeof(double));
        }
    }
    else {
        out = Py_NewRef(Py_None);
    }
    PyBuffer_Release(&text);
    return out;
}

/* The classes of 64 bytes of text for spaced(): bit i of *space is set where byte i is XML
 * whitespace, of *minus where it is '-'; the answer has the bits of the bytes that are neither
 * those nor a digit. SSE2 (every x86-64) 16 bytes at a time; elsewhere, and where a test asks
 * (_digits._portable), a byte at a time. */
static int portable = 0;

static uint64_t classes_bytes(const unsigned char *b, uint64_t *space, uint64_t *minus)
{
    uint64_t sp = 0, mi = 0, bad = 0;
    for (int i = 0; i < 64; i++) {
        unsigned char c = b[i];
        uint64_t bit = (uint64_t)1 << i;
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
            sp |= bit;
        else if (c == '-')
            mi |= bit;
        else if ((unsigned)(c - '0') >= 10)
            bad |= bit;
    }
    *space = sp;
    *minus = mi;
    return bad;
}

#if defined(__SSE2__)
#include <emmintrin.h>

static uint64_t classes_sse2(const unsigned char *b, uint64_t *space, uint64_t *minus)
{
    const __m128i blank = _mm_set1_epi8(' '), tab = _mm_set1_epi8('\t'), lf = _mm_set1_epi8('\n');
    const __m128i cr = _mm_set1_epi8('\r'), zero = _mm_set1_epi8('0'), nine = _mm_set1_epi8(9);
    const __m128i sign = _mm_set1_epi8('-');
    uint64_t sp = 0, mi = 0, good = 0;
    for (int j = 0; j < 4; j++) {
        __m128i x = _mm_loadu_si128((const __m128i *)(b + 16 * j));
        __m128i s = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, blank), _mm_cmpeq_epi8(x, tab)),
                                 _mm_or_si128(_mm_cmpeq_epi8(x, lf), _mm_cmpeq_epi8(x, cr)));
        __m128i m = _mm_cmpeq_epi8(x, sign);
        __m128i d = _mm_sub_epi8(x, zero);
        __m128i digit = _mm_cmpeq_epi8(_mm_min_epu8(d, nine), d); /* x - '0' in 0..9, unsigned */
        sp |= (uint64_t)(uint16_t)_mm_movemask_epi8(s) << (16 * j);
        mi |= (uint64_t)(uint16_t)_mm_movemask_epi8(m) << (16 * j);
        good |= (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(s, m), digit)) << (16 * j);
    }
    *space = sp;
    *minus = mi;
    return ~good;
}
#endif

static uint64_t classes(const unsigned char *b, uint64_t *space, uint64_t *minus)
{
#if defined(__SSE2__)
    if (!portable)
        return classes_sse2(b, space, minus);
#endif
    return classes_bytes(b, space, minus);
}

/* The number of values of a text of whitespace-separated tokens, written to data; -1 for another
 * text. Two passes a block of 64 bytes: the classes of its bytes, which say where the tokens
 * start and that each is -?[0-9]+; then each token from its start, so that the parse of one
 * does not wait for the end of the one before. */
static Py_ssize_t spaced(const unsigned char *text, Py_ssize_t len, double *data)
{
    const unsigned char *end = text + len;
    Py_ssize_t n = 0;
    uint64_t space_before = 1, minus_before = 0; /* the text starts after a space */
    unsigned char tail[64];
    for (Py_ssize_t block = 0; block < len; block += 64) {
        const unsigned char *b = text + block;
        if (len - block < 64) { /* the last block, padded with spaces */
            memset(tail, ' ', 64);
            memcpy(tail, b, (size_t)(len - block));
            b = tail;
        }
        uint64_t space, minus;
        uint64_t bad = classes(b, &space, &minus);
        uint64_t start = ~space & ((space << 1) | space_before);
        bad |= (minus & ~start) | (((minus << 1) | minus_before) & (space | minus)); /* a sign, then a digit */
        if (bad)
            return -1;
        space_before = space >> 63;
        minus_before = minus >> 63;
        int room = len - block >= 64 + 9; /* a token starting in this block has 8 bytes past its sign */
        for (; start; start &= start - 1) {
            const unsigned char *s = text + block + __builtin_ctzll(start);
            if (!(room ? token_at(&s, end, data + n, 1) : token(&s, end, data + n)))
                return -1;
            n++;
        }
    }
    return n == 0 || minus_before ? -1 : n;
}

/* The n float64s at data as float32s of value x scale (+ offset where it is not 0), in place
 * (a float32 i ends before float64 i starts, for every i past the first, read first). */
static void scaled_in_place(unsigned char *data, Py_ssize_t n, double scale, double offset)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        double d;
        memcpy(&d, data + 8 * i, 8);
        d *= scale;
        if (offset != 0.0) /* (as NumPy's x * scale, then x + offset only where it is not 0: -0 stays) */
            d += offset;
        float f = (float)d;
        memcpy(data + 4 * i, &f, 4);
    }
}

PyDoc_STRVAR(spaced_integers_doc,
"spaced_integers(text, scale=None, offset=0.0) -> bytes | None\n\n"
"The float64 values of a text of -?[0-9]+ tokens between runs of XML whitespace (space, tab,\n"
"CR, LF), at least one token; None for any other text. With a scale, the float32s of each\n"
"value x scale (+ offset where it is not 0), each product and sum in float64.");

static PyObject *spaced_integers(PyObject *self, PyObject *args)
{
    Py_buffer text;
    PyObject *scale_arg = Py_None;
    double offset = 0.0;
    if (!PyArg_ParseTuple(args, "y*|Od", &text, &scale_arg, &offset))
        return NULL;
    double scale = scale_arg == Py_None ? 1.0 : PyFloat_AsDouble(scale_arg);
    if (scale == -1.0 && PyErr_Occurred()) {
        PyBuffer_Release(&text);
        return NULL;
    }
    int scaled = scale_arg != Py_None;
    double *data;
    PyObject *out = values_for(text.len / 2 + 1, &data);
    if (out != NULL) {
        const unsigned char *p = text.buf;
        Py_ssize_t n;
        Py_BEGIN_ALLOW_THREADS
        n = spaced(p, text.len, data);
        if (n > 0 && scaled)
            scaled_in_place((unsigned char *)data, n, scale, offset);
        Py_END_ALLOW_THREADS
        out = finished(out, n, scaled ? sizeof(float) : sizeof(double));
    }
    PyBuffer_Release(&text);
    return out;
}

static PyObject *set_portable(PyObject *self, PyObject *arg)
{
    int flag = PyObject_IsTrue(arg);
    if (flag < 0)
        return NULL;
    portable = flag;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"_portable", set_portable, METH_O, "_portable(flag): classify bytes one at a time, not with SSE2 (for the tests)."},
    {"csv_integers", csv_integers, METH_VARARGS, csv_integers_doc},
    {"spaced_integers", spaced_integers, METH_VARARGS, spaced_integers_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_digits",
    "Plain decimal integers in text, parsed into float64 (the text readers' fast path).", -1, methods,
};

PyMODINIT_FUNC PyInit__digits(void)
{
    return PyModule_Create(&module);
}
