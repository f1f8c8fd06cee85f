//! Rate limits: atomic counting on both databases and on Redis.

use crate::*;

dual!(rate_limiter_counts_atomically, options(), |t| {
    let rule = Rule { max: 50, window: Duration::from_secs(60) };
    let mut handles = Vec::new();
    for _ in 0..60 {
        let l = t.core.limiter().clone();
        handles.push(tokio::spawn(async move { l.hit("k", rule).await.unwrap() }));
    }
    let mut allowed = 0;
    for h in handles {
        if h.await.unwrap().allowed {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 50, "exactly max hits allowed under concurrency");
    let d = t.core.limiter().peek("k", rule).await.unwrap();
    assert!(!d.allowed && d.count == 60 && d.retry_after_secs >= 1);
    t.core.limiter().reset("k").await.unwrap();
    assert!(t.core.limiter().peek("k", rule).await.unwrap().allowed);
    let short = Rule { max: 1, window: Duration::from_millis(300) };
    assert!(t.core.limiter().hit("w", short).await.unwrap().allowed);
    assert!(!t.core.limiter().hit("w", short).await.unwrap().allowed);
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert!(t.core.limiter().hit("w", short).await.unwrap().allowed, "new window");
});

#[tokio::test]
async fn redis_rate_limiter() {
    let url = std::env::var("KAVACH_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let l = kavach_core::ratelimit::RateLimiter::redis(&url)
        .await
        .expect("Redis is required for this test: run the tests with ./scripts/test.sh (it starts a throwaway one) or point KAVACH_TEST_REDIS at a server");
    let key = format!("test-{}", kavach_core::crypto::new_id());
    let rule = Rule { max: 2, window: Duration::from_secs(5) };
    assert!(l.hit(&key, rule).await.unwrap().allowed);
    assert!(l.hit(&key, rule).await.unwrap().allowed);
    let d = l.hit(&key, rule).await.unwrap();
    assert!(!d.allowed && d.count == 3 && d.retry_after_secs <= 5);
    assert!(!l.peek(&key, rule).await.unwrap().allowed);
    l.reset(&key).await.unwrap();
    assert_eq!(l.peek(&key, rule).await.unwrap().count, 0);
}
