//! Publish and subscribe from the client side: publishing (optionally acknowledged),
//! subscriptions with callback handlers or bounded event streams, and event delivery.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, warn};

use crate::message::{Id, Message, Payload};
use crate::value::{Dict, List};

use super::Session;
use super::core::{PendingSubscribe, Shared};
use super::error::ClientError;
use super::options::{PublishOptions, SubscribeOptions};
use super::types::{Event, Subscription};

/// An event handler, type-erased. It runs on the session's receive loop.
pub(crate) type EventHandler = Arc<dyn Fn(Event) + Send + Sync>;

impl Session {
    /// Publishes an event. With `opts.acknowledge`, waits for the router's answer and returns
    /// the publication ID (or the router's ERROR); without, returns `None` once queued.
    pub async fn publish(
        &self,
        topic: &str,
        args: List,
        kwargs: Dict,
        opts: PublishOptions,
    ) -> Result<Option<Id>, ClientError> {
        let shared = self.shared();
        let request = shared.next_id();
        let msg = Message::Publish {
            request,
            options: opts.to_dict(),
            topic: topic.to_owned(),
            payload: Payload::new(args, kwargs),
        };
        if !opts.acknowledge {
            return shared.send(msg).await.map(|()| None);
        }
        let (tx, rx) = oneshot::channel();
        shared.with_state(|st| st.publishes.insert(request, tx))?;
        shared.request(msg, rx).await.map(Some)
    }

    /// Subscribes `handler` to `topic`. The handler runs on the session's receive loop: it
    /// must be quick and must not block (spawn a task or forward into a channel for more).
    pub async fn subscribe<F>(
        &self,
        topic: &str,
        opts: SubscribeOptions,
        handler: F,
    ) -> Result<Subscription, ClientError>
    where
        F: Fn(Event) + Send + Sync + 'static,
    {
        let shared = self.shared();
        let request = shared.next_id();
        let (tx, rx) = oneshot::channel();
        let key = shared.with_state(|st| {
            st.next_key += 1;
            let key = st.next_key;
            st.subscribes.insert(
                request,
                PendingSubscribe {
                    tx,
                    key,
                    handler: Arc::new(handler),
                },
            );
            key
        })?;
        let id = shared
            .request(
                Message::Subscribe {
                    request,
                    options: opts.to_dict(),
                    topic: topic.to_owned(),
                },
                rx,
            )
            .await?;
        Ok(Subscription {
            id,
            topic: topic.to_owned(),
            key,
        })
    }

    /// Subscribes to `topic` and returns its events in a queue of `capacity` events.
    ///
    /// Overflow policy: when the queue is full, new events are dropped (and counted in a
    /// warning) rather than slowing the session down: the receive loop must never block. The
    /// queue ends when the session ends. Dropping the receiver does not unsubscribe.
    pub async fn subscribe_stream(
        &self,
        topic: &str,
        opts: SubscribeOptions,
        capacity: usize,
    ) -> Result<(Subscription, mpsc::Receiver<Event>), ClientError> {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let dropped = AtomicU64::new(0);
        let name = topic.to_owned();
        let sub = self
            .subscribe(topic, opts, move |ev| {
                if let Err(TrySendError::Full(_)) = tx.try_send(ev) {
                    let n = dropped.fetch_add(1, Ordering::Relaxed) + 1;
                    if n == 1 || n.is_multiple_of(1000) {
                        warn!(topic = %name, dropped = n, "event queue full: events dropped");
                    }
                }
            })
            .await?;
        Ok((sub, rx))
    }

    /// Removes one handler; the router is told when the subscription's last handler goes.
    /// Unsubscribing a subscription the router no longer has is its ERROR
    /// (`wamp.error.no_such_subscription`).
    pub async fn unsubscribe(&self, subscription: &Subscription) -> Result<(), ClientError> {
        let shared = self.shared();
        let last = shared.with_state(|st| match st.subscriptions.get_mut(&subscription.id) {
            Some(handlers) => {
                handlers.retain(|(k, _)| *k != subscription.key);
                let empty = handlers.is_empty();
                if empty {
                    st.subscriptions.remove(&subscription.id);
                }
                empty
            }
            None => true,
        })?;
        if !last {
            return Ok(());
        }
        let request = shared.next_id();
        let (tx, rx) = oneshot::channel();
        shared.with_state(|st| st.unsubscribes.insert(request, tx))?;
        shared
            .request(
                Message::Unsubscribe {
                    request,
                    subscription: subscription.id,
                },
                rx,
            )
            .await
    }
}

impl Shared {
    pub(super) fn on_subscribed(&self, request: Id, subscription: Id) {
        let mut st = self.state.lock();
        match st.subscribes.remove(&request) {
            Some(p) => {
                st.subscriptions
                    .entry(subscription)
                    .or_default()
                    .push((p.key, p.handler));
                let _ = p.tx.send(Ok(subscription));
            }
            None => debug!(request, "SUBSCRIBED for an unknown request"),
        }
    }

    pub(super) fn on_event(
        &self,
        subscription: Id,
        publication: Id,
        details: Dict,
        payload: Payload,
    ) {
        // Handlers are called outside the lock: they may use the session.
        let handlers: Vec<_> = match self.state.lock().subscriptions.get(&subscription) {
            Some(hs) => hs.iter().map(|(_, h)| h.clone()).collect(),
            None => {
                debug!(subscription, "EVENT for an unknown subscription");
                return;
            }
        };
        let event = Event {
            subscription,
            publication,
            args: payload.args,
            kwargs: payload.kwargs,
            details,
        };
        if let Some((last, rest)) = handlers.split_last() {
            for h in rest {
                h(event.clone());
            }
            last(event);
        }
    }
}
