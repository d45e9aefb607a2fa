/* Plain decimal integers in text, parsed into float64: the one loop of the text readers.
 *
 * ecgspec reads CSV records and HL7 aECG digits as text: 60,000 numbers a 10 s 12-lead record.
 * NumPy's fastest parse of them (np.fromstring) takes longer than reading a binary record whole,
 * so the happy path is parsed here: a CSV body in one pass, HL7 digits in two a 64-byte block
 * (where every token ends, found 8 bytes at a time in 64-bit words, then each token read back
 * from its end). Plain C, no SIMD intrinsics; GCC or Clang builds it (their bit-scan builtins);
 * without either, the install goes on without it. Each function gives the values as a bytes
 * object of native float64 (float32 where asked to scale them; np.frombuffer views it), or None
 * for any text that is not exactly the layout it names; the Python reader then parses that text
 * as before (NumPy), so every rule and every error message stays in Python. A token is -?[0-9]+
 * of at most 2^53 - 1, which float64 holds exactly; "-0" is -0.0, as NumPy's float parse gives it.
 */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#error "_digits.c reads text 8 bytes at a time, the first byte lowest: not built here (the readers parse with NumPy)"
#endif
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define EXACT ((int64_t)1 << 53) /* integers below it are all float64s */

/* The number that 8 digit values (0..9 a byte, the first in the lowest byte) spell: three
 * multiplications add up digit pairs, then fours, then the eight (leading zeros spell nothing). */
static inline int64_t eight_digits(uint64_t x)
{
    x = ((x & 0x0F0F0F0F0F0F0F0FULL) * 2561) >> 8;
    x = ((x & 0x00FF00FF00FF00FFULL) * 6553601) >> 16;
    return (int64_t)(((x & 0x0000FFFF0000FFFFULL) * 42949672960001ULL) >> 32);
}

/* The number that 4 digit values spell (as eight_digits): two multiplications in 32 bits. */
static inline int64_t four_digits(uint32_t y)
{
    y = ((y & 0x0F0F0F0FU) * 2561) >> 8;
    return (int64_t)(((y & 0x00FF00FFU) * 6553601) >> 16);
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

/* The value of the n (1..7) digits at the start of x (8 bytes of text, minus '0' from each, the
 * first in the lowest byte): shifted to the top, they are a number with leading zeros; up to 4
 * (an ECG's numbers, most of the time: predicted) in 32 bits. */
static inline int64_t digits_value(uint64_t x, int n)
{
    return n <= 4 ? four_digits((uint32_t)x << (8 * (4 - n))) : eight_digits(x << 8 * (8 - n));
}

/* One token -?[0-9]+ at *p (p < end): its value in *out, *p past it; 0 when there is none or it
 * reaches 2^53. Up to 7 digits in one 8-byte load, without a branch on the digits themselves
 * (the numbers of an ECG vary in length and sign from one to the next, which branches mispredict). */
static inline int token(const unsigned char **p, const unsigned char *end, double *out)
{
    static const double signs[2] = {1.0, -1.0};
    const unsigned char *s = *p;
    int negative = *s == '-';
    s += negative;
    int64_t v;
    uint64_t x = 0, not_digit = 0;
    if (end - s >= 8) {
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

/* The flags of 8 bytes of text (the first byte lowest) as 8 bits, byte i at bit i: ``high`` holds
 * 0x80 in each byte flagged (a multiplication gathers the high bits). */
static inline uint64_t gather(uint64_t high)
{
    return ((high >> 7) * 0x0102040810204080ULL) >> 56;
}

#define ONES 0x0101010101010101ULL
#define HIGH 0x8080808080808080ULL

/* 0x80 in each byte of x that equals c (exact: no carry crosses a byte). */
static inline uint64_t bytes_equal(uint64_t x, unsigned char c)
{
    uint64_t t = x ^ (ONES * c);
    return ~(((t & ~HIGH) + ~HIGH) | t) & HIGH;
}

/* The classes of 64 bytes of text for spaced(), 8 bytes at a time in 64-bit words: bit i of
 * *space is set where byte i is XML whitespace, of *minus where it is '-'; the answer is not 0
 * when a byte is neither those nor a digit. (A tab, LF or CR is looked for only in a word that
 * holds a byte below ' '.) */
static uint64_t classes(const unsigned char *b, uint64_t *space, uint64_t *minus)
{
    uint64_t sp = 0, mi = 0, other = 0;
    for (int j = 0; j < 8; j++) {
        uint64_t x;
        memcpy(&x, b + 8 * j, 8);
        uint64_t low = x & ~HIGH; /* (bytes of 128 and up are neither: ~x clears them below) */
        uint64_t digit = (low + ONES * 0x50) & ~(low + ONES * 0x46) & ~x & HIGH; /* '0' <= byte <= '9' */
        uint64_t s = bytes_equal(x, ' ');
        if (~(low + ONES * 0x60) & ~x & HIGH) /* a byte below ' ' */
            s |= bytes_equal(x, '\n') | bytes_equal(x, '\t') | bytes_equal(x, '\r');
        uint64_t m = bytes_equal(x, '-');
        other |= ~(s | m | digit) & HIGH;
        sp |= gather(s) << (8 * j);
        mi |= gather(m) << (8 * j);
    }
    *space = sp;
    *minus = mi;
    return other;
}

/* The token -?[0-9]+ that ends at text + e (e > 0), found walking back from its end: its value
 * and sign; 0 when it reaches 2^53. The slow path of spaced(), for a token that ends within 8
 * bytes of the text's start or has 8 digits or more. */
static __attribute__((noinline)) int token_ending(const unsigned char *text, Py_ssize_t e, int64_t *value,
                                                  int *negative)
{
    Py_ssize_t s = e;
    while (s > 0 && (unsigned)(text[s - 1] - '0') < 10)
        s--;
    *negative = s > 0 && text[s - 1] == '-';
    const unsigned char *p = text + s;
    return token_slow(&p, text + e, value) && p == text + e;
}

/* The number of tokens of a text of whitespace-separated -?[0-9]+, each value x scale (+ offset
 * where it is not 0) written to data as float32 (as_float) or float64; -1 for another text. Two
 * passes a block of 64 bytes: the classes of its bytes, which check that every token is
 * -?[0-9]+ and say where each one ends; then each token from its end: the 8 bytes before the
 * end hold its digits at the top (bit 4 set in a digit, clear in whitespace and '-'), so that
 * one load, a mask and three multiplications give its value, and nothing is read past the text.
 * (The parse of one token does not wait for the one before.) */
static inline __attribute__((always_inline)) Py_ssize_t spaced_into(const unsigned char *text, Py_ssize_t len,
                                                                    void *data, int as_float, double scale,
                                                                    double offset)
{
    const double signed_scale[2] = {scale, -scale}; /* (v x -scale is -v x scale, bit for bit; -0 stays) */
    Py_ssize_t n = 0;
    uint64_t space_before = 1, minus_before = 0, token_before = 0; /* the text starts after a space */
    unsigned char tail[64];
    /* (a text of whole blocks that ends in a token gets a block of spaces, to end it) */
    for (Py_ssize_t block = 0; block < len || (block == len && token_before); block += 64) {
        const unsigned char *b = text + block;
        if (len - block < 64) { /* the last block, padded with spaces (which end its last token) */
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
        uint64_t ends = space & ((~space << 1) | token_before); /* the first space after each token */
        space_before = space >> 63;
        minus_before = minus >> 63;
        token_before = ~space >> 63;
        for (; ends; ends &= ends - 1) {
            Py_ssize_t e = block + __builtin_ctzll(ends);
            uint64_t x = 0, other = 0;
            if (e >= 8) {
                memcpy(&x, text + e - 8, 8);
                other = ~x & 0x1010101010101010ULL; /* the bytes before the token's digits */
            }
            int64_t v;
            int negative;
            if (other) {
                int k = __builtin_clzll(other) >> 3; /* its digits, at the top of x (up to 4: 32 bits) */
                v = k <= 4 ? four_digits((uint32_t)(x >> 32) & (~0U << (32 - 8 * k)))
                           : eight_digits(x & (~0ULL << (64 - 8 * k)));
                negative = text[e - k - 1] == '-';
            }
            else if (!token_ending(text, e, &v, &negative)) {
                return -1;
            }
            double d = (double)v * signed_scale[negative];
            if (offset != 0.0) /* (as NumPy's x * scale, then x + offset only where it is not 0: -0 stays) */
                d += offset;
            if (as_float)
                ((float *)data)[n] = (float)d;
            else
                ((double *)data)[n] = d;
            n++;
        }
    }
    return n == 0 || minus_before ? -1 : n;
}

static Py_ssize_t spaced(const unsigned char *text, Py_ssize_t len, double *data)
{
    return spaced_into(text, len, data, 0, 1.0, 0.0);
}

static Py_ssize_t spaced_scaled(const unsigned char *text, Py_ssize_t len, float *data, double scale,
                                double offset)
{
    return spaced_into(text, len, data, 1, scale, offset);
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
        n = scaled ? spaced_scaled(p, text.len, (float *)data, scale, offset) : spaced(p, text.len, data);
        Py_END_ALLOW_THREADS
        out = finished(out, n, scaled ? sizeof(float) : sizeof(double));
    }
    PyBuffer_Release(&text);
    return out;
}

static PyMethodDef methods[] = {
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
