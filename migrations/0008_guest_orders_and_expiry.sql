-- Guest orders, and what the expiry sweep needs to skip orders held by a gateway.
--
-- A guest order (a web checkout without an account) has no customer: `OrderPlaced.customer_id`
-- is null, so the read model and the order index accept a missing customer.
ALTER TABLE orders_view ALTER COLUMN customer_id DROP NOT NULL;
ALTER TABLE order_index ALTER COLUMN customer_id DROP NOT NULL;

-- The gateway transaction currently holding an unpaid order (`<provider>:<provider id>`), from
-- the order's own `OrderPaymentStarted` / `OrderPaymentEnded` events; null when none. The expiry
-- sweep pages only through orders that are due and not held, so a thousand held orders cannot
-- stand in front of the ones it may cancel.
ALTER TABLE orders_view ADD COLUMN active_payment text;

-- Orders placed before this column existed: a Payme transaction in state 1 holds its order.
UPDATE orders_view o
SET active_payment = 'payme:' || p.provider_id
FROM order_payments p
WHERE p.order_id = o.order_id
  AND p.provider = 'payme'
  AND p.state = '1'
  AND o.status = 'awaiting_payment';

CREATE INDEX orders_view_expiring ON orders_view (expires_at, order_id)
    WHERE status = 'awaiting_payment' AND active_payment IS NULL;
