/*
 * adv/adv_report.c - files of the robustness report: NumPy .npy arrays
 * (format 1.0, numpy.lib.format), an SVG line plot of accuracy against eps and
 * an SVG grid of original / adversarial / perturbation images. SVG is written
 * as plain text (SVG 1.1); every caller string is XML-escaped.
 * Must not: print to the terminal; leave a partial file without reporting
 * BW_ERR_IO.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bulwark/adv.h"

static enum bw_err write_npy(const char *path, const void *p, size_t esz, const char *descr,
                             int ndim, const int *shape)
{
	char hdr[256], sh[128];
	size_t n = 1, hl, pos = 0;
	int i, len;
	FILE *f;
	enum bw_err err = BW_OK;

	if (path == NULL || p == NULL || shape == NULL || ndim < 1 || ndim > 4)
		return BW_ERR_ARG;
	sh[0] = '\0';
	for (i = 0; i < ndim; i++) {
		if (shape[i] < 0)
			return BW_ERR_ARG;
		n *= (size_t)shape[i];
		pos += (size_t)snprintf(sh + pos, sizeof sh - pos, "%d,%s", shape[i],
		                        (ndim > 1 && i < ndim - 1) ? " " : "");
	}
	if (ndim > 1) /* "(a, b,)" is not NumPy's spelling: drop the trailing comma */
		sh[pos - 1] = '\0';
	len = snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }",
	               descr, sh);
	if (len < 0 || (size_t)len + 12 > sizeof hdr)
		return BW_ERR_ARG;
	/* magic (6) + version (2) + header length (2) + header padded with spaces to 64, ending in \n */
	hl = (size_t)len;
	while ((10 + hl + 1) % 64 != 0)
		hdr[hl++] = ' ';
	hdr[hl++] = '\n';
	f = fopen(path, "wb");
	if (f == NULL)
		return BW_ERR_IO;
	if (fwrite("\x93NUMPY\x01\x00", 1, 8, f) != 8 || fputc((int)(hl & 0xff), f) == EOF ||
	    fputc((int)(hl >> 8), f) == EOF || fwrite(hdr, 1, hl, f) != hl ||
	    (n > 0 && fwrite(p, esz, n, f) != n))
		err = BW_ERR_IO;
	if (fclose(f) != 0)
		err = BW_ERR_IO;
	return err;
}

enum bw_err bw_adv_write_npy_f32(const char *path, const float *p, int ndim, const int *shape)
{
	return write_npy(path, p, sizeof(float), "<f4", ndim, shape);
}

enum bw_err bw_adv_write_npy_i32(const char *path, const int32_t *p, int ndim, const int *shape)
{
	return write_npy(path, p, sizeof(int32_t), "<i4", ndim, shape);
}

static void xml_text(FILE *f, const char *s)
{
	for (; s != NULL && *s != '\0'; s++) {
		switch (*s) {
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '&': fputs("&amp;", f); break;
		case '"': fputs("&quot;", f); break;
		default:
			if ((unsigned char)*s >= 0x20)
				fputc(*s, f);
		}
	}
}

static const char *const palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                      "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"};

enum bw_err bw_adv_write_plot_svg(const char *path, const char *title, int n_series,
                                  const struct bw_adv_series *s)
{
	const double W = 640, H = 400, L = 60, R = 190, T = 40, B = 50;
	double xmax = 0.0, pw = W - L - R, ph = H - T - B;
	int i, j;
	FILE *f;
	enum bw_err err = BW_OK;

	if (path == NULL || n_series < 1 || s == NULL)
		return BW_ERR_ARG;
	for (i = 0; i < n_series; i++) {
		if (s[i].n < 1 || s[i].eps == NULL || s[i].acc == NULL)
			return BW_ERR_ARG;
		for (j = 0; j < s[i].n; j++)
			if (isfinite(s[i].eps[j]) && s[i].eps[j] > xmax)
				xmax = s[i].eps[j];
	}
	if (xmax <= 0.0)
		xmax = 1.0;
	f = fopen(path, "w");
	if (f == NULL)
		return BW_ERR_IO;
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	           "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
	           "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"12\">\n"
	           "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", W, H, W, H);
	fputs("<text x=\"320\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">", f);
	xml_text(f, title != NULL ? title : "Accuracy under attack");
	fputs("</text>\n", f);
	for (i = 0; i <= 10; i++) { /* y grid: 0..100% */
		double y = T + ph - ph * i / 10.0;

		fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", L, y,
		        L + pw, y);
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%d%%</text>\n", L - 6, y + 4,
		        i * 10);
	}
	for (i = 0; i <= 5; i++) { /* x ticks */
		double x = L + pw * i / 5.0;

		fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", x, T,
		        x, T + ph);
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.3g</text>\n", x,
		        T + ph + 16, xmax * i / 5.0);
	}
	fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
	           "stroke=\"#333\"/>\n", L, T, pw, ph);
	fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">eps (L-inf radius)</text>\n",
	        L + pw / 2, H - 10);
	fprintf(f, "<text x=\"16\" y=\"%.1f\" text-anchor=\"middle\" transform=\"rotate(-90 16 %.1f)\">"
	           "accuracy</text>\n", T + ph / 2, T + ph / 2);
	for (i = 0; i < n_series; i++) {
		const char *col = palette[(size_t)i % (sizeof palette / sizeof palette[0])];

		fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"", col,
		        s[i].dashed ? " stroke-dasharray=\"6 4\"" : "");
		for (j = 0; j < s[i].n; j++) {
			double a = s[i].acc[j] < 0 ? 0 : s[i].acc[j] > 1 ? 1 : s[i].acc[j];

			fprintf(f, "%s%.1f,%.1f", j ? " " : "", L + pw * s[i].eps[j] / xmax, T + ph - ph * a);
		}
		fputs("\"/>\n", f);
		for (j = 0; j < s[i].n; j++) {
			double a = s[i].acc[j] < 0 ? 0 : s[i].acc[j] > 1 ? 1 : s[i].acc[j];

			fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n",
			        L + pw * s[i].eps[j] / xmax, T + ph - ph * a, col);
		}
		fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
		           "stroke-width=\"2\"%s/>\n", L + pw + 12, T + 10 + 20.0 * i, L + pw + 36,
		        T + 10 + 20.0 * i, col, s[i].dashed ? " stroke-dasharray=\"6 4\"" : "");
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">", L + pw + 42, T + 14 + 20.0 * i);
		xml_text(f, s[i].label != NULL ? s[i].label : "");
		fputs("</text>\n", f);
	}
	fputs("</svg>\n", f);
	if (ferror(f))
		err = BW_ERR_IO;
	if (fclose(f) != 0)
		err = BW_ERR_IO;
	return err;
}

/* One image as grey rectangles: the channel mean of img, or (base != NULL) the
 * difference img - base scaled by `scale` around mid-grey. */
static void grid_image(FILE *f, double ox, double oy, double px, int c, int h, int w,
                       const float *img, const float *base, float scale)
{
	int y, x, ch;
	size_t hw = (size_t)h * (size_t)w;

	for (y = 0; y < h; y++)
		for (x = 0; x < w; x++) {
			double v = 0.0;
			int g;

			for (ch = 0; ch < c; ch++) {
				size_t i = (size_t)ch * hw + (size_t)y * (size_t)w + (size_t)x;

				v += base != NULL ? 0.5 + (img[i] - base[i]) * scale : img[i];
			}
			v /= c;
			v = v < 0 ? 0 : v > 1 ? 1 : v;
			g = (int)lround(v * 255.0);
			fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.2f\" height=\"%.2f\" "
			           "fill=\"#%02x%02x%02x\"/>\n", ox + x * px, oy + y * px, px + 0.05,
			        px + 0.05, g, g, g);
		}
}

static void class_name(FILE *f, int32_t k, const char *const *names, int n_names)
{
	if (names != NULL && k >= 0 && k < n_names && names[k] != NULL)
		xml_text(f, names[k]);
	else
		fprintf(f, "%d", (int)k);
}

enum bw_err bw_adv_write_grid_svg(const char *path, int n, int c, int h, int w, const float *x,
                                  const float *x_adv, const int32_t *y, const int32_t *pred_clean,
                                  const int32_t *pred_adv, const char *const *class_names,
                                  int n_class_names)
{
	const double px = 3.0, gap = 14.0, cap = 30.0;
	double cw, rh, W, H;
	size_t per;
	int i, col;
	FILE *f;
	enum bw_err err = BW_OK;

	if (path == NULL || n < 1 || n > 1000 || c < 1 || h < 1 || w < 1 || h > 512 || w > 512 ||
	    x == NULL || x_adv == NULL || y == NULL || pred_clean == NULL || pred_adv == NULL)
		return BW_ERR_ARG;
	per = (size_t)c * (size_t)h * (size_t)w;
	cw = w * px + gap + 110;
	rh = h * px + cap;
	W = 3 * cw + gap;
	H = 30 + n * rh;
	f = fopen(path, "w");
	if (f == NULL)
		return BW_ERR_IO;
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	           "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
	           "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"11\" "
	           "shape-rendering=\"crispEdges\">\n<rect width=\"100%%\" height=\"100%%\" "
	           "fill=\"white\"/>\n", W, H, W, H);
	fprintf(f, "<text x=\"%.1f\" y=\"18\">original</text><text x=\"%.1f\" y=\"18\">adversarial"
	           "</text><text x=\"%.1f\" y=\"18\">perturbation (x5, grey = 0)</text>\n",
	        gap, gap + cw, gap + 2 * cw);
	for (i = 0; i < n; i++) {
		const float *o = x + (size_t)i * per, *a = x_adv + (size_t)i * per;
		double oy = 26 + i * rh;

		for (col = 0; col < 3; col++)
			grid_image(f, gap + col * cw, oy, px, c, h, w, col == 0 ? o : a, col == 2 ? o : NULL,
			           5.0f);
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">label ", gap, oy + h * px + 13);
		class_name(f, y[i], class_names, n_class_names);
		fputs(", predicted ", f);
		class_name(f, pred_clean[i], class_names, n_class_names);
		fprintf(f, "</text>\n<text x=\"%.1f\" y=\"%.1f\" fill=\"%s\">predicted ", gap + cw,
		        oy + h * px + 13, pred_adv[i] != y[i] ? "#d62728" : "#2ca02c");
		class_name(f, pred_adv[i], class_names, n_class_names);
		fputs("</text>\n", f);
	}
	fputs("</svg>\n", f);
	if (ferror(f))
		err = BW_ERR_IO;
	if (fclose(f) != 0)
		err = BW_ERR_IO;
	return err;
}
