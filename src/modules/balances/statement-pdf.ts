/**
 * A tax year's payments as a letter a person can hand to a Jobcentre work coach or to HMRC:
 * who it is from, who it is about, each payment on the Europe/London day it was paid with
 * earnings and expenses apart, the totals, and who to contact.
 *
 * Made with pdfkit, with no network and no system fonts: the text is set in DejaVu Sans from
 * the dejavu-fonts-ttf package (embedded, subset to the characters used), because the PDF
 * standard fonts cannot write names outside Western European letters (Łukasz, Nguyễn, Олена).
 * The document is tagged (headings, paragraphs, a table with header cells) with its language
 * set, so screen readers can read it.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as fontkit from 'fontkit';
import type { Font } from 'fontkit';
import { formatMoney } from '../../domain/money.js';
import type { StatementLetter } from './service.js';

const require = createRequire(import.meta.url);
let fonts: { regular: Font; bold: Font } | undefined;

/**
 * The fonts, read and parsed once per process and shared by every letter. Handed to pdfkit as
 * parsed fontkit fonts: given a file or a buffer, pdfkit parses the font again each time a
 * table cell switches font back, which made a letter of a few dozen payments take seconds.
 */
function letterFonts() {
  const load = (file: string) => fontkit.create(readFileSync(require.resolve(`dejavu-fonts-ttf/ttf/${file}`))) as Font;
  fonts ??= { regular: load('DejaVuSans.ttf'), bold: load('DejaVuSans-Bold.ttf') };
  return fonts;
}

const longDate = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'long', year: 'numeric', timeZone: 'UTC' });

/** "2026-04-06" → "6 April 2026" (a calendar date, so read at UTC midnight and shown in UTC). */
export function letterDate(date: string): string {
  return longDate.format(new Date(`${date}T00:00:00Z`));
}

const methodWords: Record<string, string> = {
  stripe: 'Bank account (Stripe)',
  bank_transfer: 'Bank transfer',
  voucher: 'Voucher',
};

/** The letter's text, paragraph by paragraph: kept apart from drawing so tests and other formats can share it. */
export function letterText(letter: StatementLetter) {
  const who = letter.contributor.name;
  const org = letter.organisation.name;
  const money = (amount: number) => formatMoney(amount, letter.currency);
  const years = `${letterDate(letter.taxYear.from)} to ${letterDate(letter.taxYear.to)}`;
  return {
    title: `Payments to ${who} in the tax year ${letter.taxYear.label}`,
    heading: 'Statement of payments',
    facts: [
      ['From', org],
      ['About', who],
      ['Tax year', `${letter.taxYear.label} (${years})`],
      ['Date of this letter', letterDate(letter.issuedOn)],
    ] as const,
    introduction: [
      `${org} pays ${who} for taking part in co-production: helping to design, run and check services, drawing on their own experience.`,
      `This letter lists every payment ${org} made to ${who} in the UK tax year ${letter.taxYear.label} (${years}), on the day the money was paid, in UK time. It includes payments made through this service only.`,
    ],
    noPayments: `${org} made no payments to ${who} in this tax year.`,
    totals: [
      ['Earnings paid', money(letter.earningsPaid)],
      ['Expenses paid back', money(letter.expensesPaid)],
      ['Total paid', money(letter.totalPaid)],
    ] as const,
    earningsAndExpenses: [
      `Earnings are payments for ${who}'s time.`,
      `Expenses are reimbursements, not earnings: they pay back what ${who} spent to take part, such as travel, childcare or care, at cost. They are not income and are shown apart so they are not counted as earnings.`,
      `Of the £1,000 trading allowance for this tax year, ${money(letter.tradingAllowanceRemaining)} is left after these earnings.`,
    ],
    contact: letter.organisation.contact
      ? [`To check anything in this letter, contact ${org}: ${letter.organisation.contact}.`]
      : [
          `To check anything in this letter, contact ${org}.`,
          `${org} has not recorded contact details in this payment service, so they cannot be printed here. ${who} can tell you who they work with at ${org}.`,
        ],
    money,
  };
}

/** The letter as a PDF document (A4), in memory. */
export async function statementPdf(letter: StatementLetter, now: Date): Promise<Buffer> {
  // Loaded on first use: most processes never write a letter, and pdfkit with its font engine
  // is several megabytes of heap.
  const { default: PDFDocument } = await import('pdfkit');
  const text = letterText(letter);
  const { regular, bold } = letterFonts();
  const doc: PDFKit.PDFDocument = new PDFDocument({
    size: 'A4',
    margin: 56,
    pdfVersion: '1.7',
    tagged: true,
    lang: 'en-GB',
    displayTitle: true,
    bufferPages: true,
    // The body font from the package from the start, so no PDF standard font is ever referenced.
    font: regular as unknown as string,
    info: {
      Title: text.title,
      Author: letter.organisation.name,
      Subject: `Payments in the UK tax year ${letter.taxYear.label}: earnings and expenses`,
      Creator: 'Co-production participant payment ledger',
      CreationDate: now,
    },
  });
  const chunks: Buffer[] = [];
  doc.on('data', (chunk: Buffer) => chunks.push(chunk));
  const ended = new Promise<void>((resolve, reject) => {
    doc.on('end', resolve);
    doc.on('error', reject);
  });
  // pdfkit takes a parsed fontkit font wherever it takes a font file (its types list only files).
  doc.registerFont('body', regular as unknown as Buffer);
  doc.registerFont('bold', bold as unknown as Buffer);

  const root = doc.struct('Document');
  doc.addStructure(root);
  const width = doc.page.width - doc.page.margins.left - doc.page.margins.right;
  const para = (words: string, options: { font?: 'body' | 'bold'; size?: number; type?: string; gap?: number } = {}) => {
    root.add(
      doc.struct(options.type ?? 'P', {}, () => {
        doc
          .font(options.font ?? 'body')
          .fontSize(options.size ?? 11)
          .text(words, doc.page.margins.left, doc.y, { width });
      }),
    );
    doc.moveDown(options.gap ?? 0.6);
  };
  const heading = (words: string, level: 'H1' | 'H2') => {
    doc.moveDown(level === 'H1' ? 0 : 0.4);
    para(words, { font: 'bold', size: level === 'H1' ? 20 : 14, type: level, gap: 0.4 });
  };
  const table = (rows: string[][], options: { header: boolean; numericFrom: number; columns: (number | '*')[] }) => {
    doc.font('body').fontSize(10);
    const isHeader = (r: number, c: number) => (options.header && r === 0) || c === 0;
    // structParent and scope are pdfkit options its type definitions do not list yet.
    const tableOptions = {
      structParent: root,
      columnStyles: options.columns.map((w) => ({ width: w })),
      defaultStyle: { border: [0, 0, 0.5, 0], borderColor: '#b1b4b6', padding: [4, 6, 4, 0] },
      data: rows.map((row, r) =>
        row.map((cell, c) => ({
          text: cell,
          type: isHeader(r, c) ? 'TH' : 'TD',
          ...(isHeader(r, c) ? { scope: options.header && r === 0 ? 'Column' : 'Row' } : {}),
          align: { x: c >= options.numericFrom ? 'right' : 'left', y: 'top' },
          ...((options.header && r === 0) || (options.header && r === rows.length - 1) ? { font: { src: 'bold' } } : {}),
        })),
      ),
    };
    doc.table(tableOptions as unknown as PDFKit.Mixins.TableOptionsWithData);
    doc.font('body').fontSize(11).moveDown(0.8);
    doc.x = doc.page.margins.left;
  };

  para(letter.organisation.name, { font: 'bold', size: 13, gap: 1 });
  heading(text.heading, 'H1');
  table(
    text.facts.map(([k, v]) => [k, v]),
    { header: false, numericFrom: 99, columns: [140, '*'] },
  );
  for (const p of text.introduction) para(p);

  heading('Payments', 'H2');
  if (letter.payments.length === 0) {
    para(text.noPayments);
  } else {
    table(
      [
        ['Date paid', 'How paid', 'Earnings', 'Expenses', 'Total'],
        ...letter.payments.map((p) => [
          letterDate(p.date),
          `${methodWords[p.method] ?? p.method}${p.reference ? `\nRef. ${p.reference}` : ''}`,
          text.money(p.earnings),
          text.money(p.expenses),
          text.money(p.amount),
        ]),
        ['Total', '', text.money(letter.earningsPaid), text.money(letter.expensesPaid), text.money(letter.totalPaid)],
      ],
      { header: true, numericFrom: 2, columns: [110, '*', 80, 80, 80] },
    );
  }

  heading(`Totals for the tax year ${letter.taxYear.label}`, 'H2');
  table(
    text.totals.map(([k, v]) => [k, v]),
    { header: false, numericFrom: 1, columns: [200, 100] },
  );

  heading('Earnings and expenses', 'H2');
  for (const p of text.earningsAndExpenses) para(p);

  heading('Who to contact', 'H2');
  for (const p of text.contact) para(p);
  root.end();

  // Page numbers, marked as artefacts (not part of the letter's reading order).
  const range = doc.bufferedPageRange();
  for (let i = range.start; i < range.start + range.count; i++) {
    doc.switchToPage(i);
    const margins = doc.page.margins;
    const bottom = doc.page.height - margins.bottom + 16;
    // Below the bottom margin pdfkit would start a new page: drop the margin while writing.
    doc.page.margins = { ...margins, bottom: 0 };
    doc.markContent('Artifact', { type: 'Pagination' });
    doc
      .font('body')
      .fontSize(9)
      .fillColor('#505a5f')
      .text(`${text.title} · page ${i + 1} of ${range.count}`, margins.left, bottom, { width, lineBreak: false });
    doc.endMarkedContent();
    doc.page.margins = margins;
  }
  doc.end();
  await ended;
  return Buffer.concat(chunks);
}
