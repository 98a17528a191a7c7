-- CrystalPay invoices (inline projection `crystalpay_invoices`,
-- projections/src/read_models/crystalpay_invoices.rs): the invoice's state in CrystalPay's
-- terms, and whether a callback is waiting for its `invoice/info` re-check. The re-check
-- worker reads the pending rows at start and after every callback, so a callback answered
-- 200 just before a crash is still checked and applied. Rebuildable from the log.
CREATE TABLE crystalpay_invoices (
    invoice_id    text PRIMARY KEY,
    order_id      text NOT NULL,
    state         text NOT NULL,
    check_pending boolean NOT NULL DEFAULT false,
    -- When the oldest unchecked callback was recorded (NULL when none is pending).
    pending_since timestamptz,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);
CREATE INDEX crystalpay_invoices_pending ON crystalpay_invoices (pending_since)
    WHERE check_pending;
CREATE INDEX crystalpay_invoices_order ON crystalpay_invoices (order_id);
