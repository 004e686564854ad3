// One customer, every field (GET /api/customers/:id).
import { useEffect, useState } from 'preact/hooks';
import { getJson, type Customer } from './api';
import { listHash } from './customers';
import { balance } from './format';

const FIELDS: { key: keyof Customer; label: string; show?: (c: Customer) => string | null }[] = [
  { key: 'customer_id', label: 'Customer id' },
  { key: 'first_name', label: 'First name' },
  { key: 'last_name', label: 'Last name' },
  { key: 'email', label: 'Email' },
  { key: 'phone', label: 'Phone' },
  { key: 'address', label: 'Address' },
  { key: 'date_of_birth', label: 'Date of birth' },
  { key: 'account_balance', label: 'Account balance', show: (c) => (c.account_balance === null ? null : balance(c.account_balance)) },
  // As the source gave it: a date and time without a time zone.
  { key: 'created_at', label: 'Created', show: (c) => c.created_at?.replace('T', ' ') ?? null },
];

export function CustomerView({ customerId }: { customerId: string }) {
  const [customer, setCustomer] = useState<Customer | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const ctl = new AbortController();
    getJson<Customer>(`/api/customers/${encodeURIComponent(customerId)}`, ctl.signal).then(setCustomer, (err: Error) => !ctl.signal.aborted && setError(err.message));
    return () => ctl.abort();
  }, [customerId]);

  return (
    <section class="panel" data-testid="customer-page">
      <div class="panel-head">
        <a href={listHash} class="back">
          ← Customers
        </a>
        <h2>
          {customer ? `${customer.first_name} ${customer.last_name}` : 'Customer'} <span class="mono muted">{customerId}</span>
        </h2>
      </div>
      {error && <p class="error">{error}</p>}
      {!customer && !error && <p class="muted">Loading…</p>}
      {customer && (
        <dl class="facts fields">
          {FIELDS.map((f) => {
            const value = f.show ? f.show(customer) : (customer[f.key] as string | null);
            return (
              <div key={f.key} data-testid={`field-${f.key}`}>
                <dt>{f.label}</dt>
                <dd class={value === null ? 'muted' : ''}>{value ?? 'none'}</dd>
              </div>
            );
          })}
        </dl>
      )}
    </section>
  );
}
