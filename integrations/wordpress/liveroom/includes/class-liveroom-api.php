<?php
/**
 * Server-side calls to the Liveroom HTTP API.
 *
 * @package Liveroom
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

/**
 * Talks to the Liveroom server with the site's API key. Every call has a short
 * timeout, so a server that is down slows a page by seconds at most and never
 * breaks it.
 */
final class Liveroom_API {

	/**
	 * Seconds one call may take.
	 */
	const TIMEOUT = 5;

	/**
	 * The server's base URL, without a trailing slash.
	 *
	 * @var string
	 */
	private $base;

	/**
	 * The API key.
	 *
	 * @var string
	 */
	private $key;

	/**
	 * Constructor.
	 *
	 * @param string $base Server base URL.
	 * @param string $key  API key.
	 */
	public function __construct( string $base, string $key ) {
		$this->base = untrailingslashit( $base );
		$this->key  = $key;
	}

	/**
	 * A client for the saved settings.
	 */
	public static function from_options(): self {
		$o = Liveroom_Options::get();
		return new self( (string) $o['server_url'], Liveroom_Options::api_key() );
	}

	/**
	 * Whether a server URL and a key are set.
	 */
	public function configured(): bool {
		return '' !== $this->base && '' !== $this->key;
	}

	/**
	 * One request. Returns the status and decoded body, or a WP_Error when the
	 * server could not be reached.
	 *
	 * @param string     $method HTTP method.
	 * @param string     $path   Path below the server URL.
	 * @param array|null $body   JSON body, or null.
	 * @param bool       $keyed  Whether to send the API key.
	 * @return array{status:int, body:mixed, headers:mixed}|WP_Error
	 */
	public function request( string $method, string $path, ?array $body = null, bool $keyed = true ) {
		$args = array(
			'method'      => $method,
			'timeout'     => self::TIMEOUT,
			'redirection' => 0,
			'headers'     => array( 'Accept' => 'application/json' ),
		);
		if ( $keyed ) {
			$args['headers']['Authorization'] = 'Bearer ' . $this->key;
		}
		if ( null !== $body ) {
			$args['headers']['Content-Type'] = 'application/json';
			$args['body']                    = wp_json_encode( $body );
		}
		$res = wp_remote_request( $this->base . $path, $args );
		if ( is_wp_error( $res ) ) {
			return $res;
		}
		return array(
			'status'  => (int) wp_remote_retrieve_response_code( $res ),
			'body'    => json_decode( wp_remote_retrieve_body( $res ), true ),
			'headers' => wp_remote_retrieve_headers( $res ),
		);
	}

	/**
	 * The error code of a Liveroom error answer, or ''.
	 *
	 * @param array $res An answer from request().
	 */
	public static function error_code( array $res ): string {
		return is_array( $res['body'] ) && isset( $res['body']['error']['code'] ) ? (string) $res['body']['error']['code'] : '';
	}

	/**
	 * Checks the connection the way "Test connection" shows it: is the server
	 * there, is it Liveroom, does it take the key, and is the key's agent the
	 * one the button is set to.
	 *
	 * @param string $agent_id The agent id in the settings.
	 * @return array{ok:bool, message:string}
	 */
	public function check( string $agent_id ): array {
		if ( '' === $this->base ) {
			return self::result( false, __( 'No server URL is set. Enter your Liveroom server\'s address, e.g. https://meet.example.', 'liveroom' ) );
		}
		$health = $this->request( 'GET', '/healthz', null, false );
		if ( is_wp_error( $health ) ) {
			/* translators: 1: server URL, 2: error from the HTTP library. */
			return self::result( false, sprintf( __( 'Server not reachable at %1$s: %2$s', 'liveroom' ), $this->base, $health->get_error_message() ) );
		}
		if ( ! is_array( $health['body'] ) || ! isset( $health['body']['actors'] ) ) {
			/* translators: 1: server URL, 2: HTTP status. */
			return self::result( false, sprintf( __( '%1$s answers (HTTP %2$d) but is not a Liveroom server. Check the server URL.', 'liveroom' ), $this->base, $health['status'] ) );
		}
		if ( 200 !== $health['status'] ) {
			/* translators: %s: server URL. */
			return self::result( false, sprintf( __( 'The Liveroom server at %s is up but not healthy right now (its store or actors do not answer). Try again shortly.', 'liveroom' ), $this->base ) );
		}
		if ( '' === $this->key ) {
			return self::result( false, __( 'The server is reachable, but no API key is saved. Make one with: liveroom admin apikey add --agent YOUR_AGENT_ID', 'liveroom' ) );
		}
		$me = $this->request( 'GET', '/api/v1/agent' );
		if ( is_wp_error( $me ) ) {
			/* translators: %s: error from the HTTP library. */
			return self::result( false, sprintf( __( 'Server not reachable: %s', 'liveroom' ), $me->get_error_message() ) );
		}
		if ( 401 === $me['status'] ) {
			return self::result( false, __( 'API key refused: the server does not know this key (mistyped, removed, or its agent was removed). Make a new one with: liveroom admin apikey add --agent YOUR_AGENT_ID', 'liveroom' ) );
		}
		if ( 404 === $me['status'] && 'agent_not_found' === self::error_code( $me ) ) {
			return self::result( false, __( 'Agent unknown: the key is accepted but its agent account no longer exists.', 'liveroom' ) );
		}
		if ( 200 !== $me['status'] || ! is_array( $me['body'] ) || empty( $me['body']['id'] ) ) {
			/* translators: %d: HTTP status. */
			return self::result( false, sprintf( __( 'The server answered the key check with HTTP %d. It may be an older Liveroom without /api/v1/agent; update it.', 'liveroom' ), $me['status'] ) );
		}
		$key_agent = (string) $me['body']['id'];
		if ( '' === $agent_id ) {
			/* translators: %s: agent id. */
			return self::result( false, sprintf( __( 'The key works and belongs to agent "%s", but no agent id is set: enter it as the agent id.', 'liveroom' ), $key_agent ) );
		}
		if ( $key_agent !== $agent_id ) {
			/* translators: 1: agent id of the key, 2: agent id in the settings. */
			return self::result( false, sprintf( __( 'Agent unknown for this key: the key belongs to agent "%1$s", but the agent id is set to "%2$s".', 'liveroom' ), $key_agent, $agent_id ) );
		}
		/* translators: 1: agent name, 2: agent id, 3: presence (online, away or offline). */
		$message = sprintf( __( 'Connected: agent %1$s (%2$s) is %3$s.', 'liveroom' ), (string) $me['body']['name'], $key_agent, self::presence_label( (string) $me['body']['presence'] ) );
		$site    = wp_parse_url( home_url() );
		$origin  = $site['scheme'] . '://' . $site['host'] . ( isset( $site['port'] ) ? ':' . $site['port'] : '' );
		if ( 'https' === $site['scheme'] && 0 === strpos( $this->base, 'http:' ) ) {
			/* translators: %s: the Liveroom server URL. */
			return self::result( false, $message . ' ' . sprintf( __( 'But this site is served over HTTPS and %s is not: browsers will block the button. Use the server\'s https:// address.', 'liveroom' ), $this->base ) );
		}
		$options = Liveroom_Options::get();
		if ( ! empty( $options['room_embed'] ) && ! $this->allows_framing( $origin ) ) {
			/* translators: %s: this site's origin. */
			$message .= ' ' . sprintf( __( 'Rooms cannot be shown inside your pages yet: start Liveroom with --embed-origins %s (or turn off "Show rooms in the page"); the room links work.', 'liveroom' ), $origin );
		}
		return self::result( true, $message );
	}

	/**
	 * Whether the server lets this site show room pages in a frame: its
	 * Content-Security-Policy frame-ancestors names the site.
	 *
	 * @param string $origin This site's origin.
	 */
	private function allows_framing( string $origin ): bool {
		$res = $this->request( 'GET', '/room/embed-check', null, false );
		if ( is_wp_error( $res ) ) {
			return false;
		}
		$csp = $res['headers']['content-security-policy'] ?? '';
		$csp = is_array( $csp ) ? implode( '; ', $csp ) : (string) $csp;
		if ( '' === $csp ) {
			return true;
		}
		if ( 1 !== preg_match( '/frame-ancestors([^;]*)/', $csp, $m ) ) {
			return true;
		}
		$allowed = preg_split( '/\s+/', trim( $m[1] ) );
		return in_array( '*', $allowed, true ) || in_array( untrailingslashit( $origin ), $allowed, true );
	}

	/**
	 * A translated presence.
	 *
	 * @param string $presence online, away or offline.
	 */
	public static function presence_label( string $presence ): string {
		switch ( $presence ) {
			case 'online':
				return __( 'online', 'liveroom' );
			case 'away':
				return __( 'away', 'liveroom' );
			default:
				return __( 'offline', 'liveroom' );
		}
	}

	/**
	 * A check result.
	 *
	 * @param bool   $ok      Whether all is well.
	 * @param string $message What to tell the site owner.
	 * @return array{ok:bool, message:string}
	 */
	private static function result( bool $ok, string $message ): array {
		return array(
			'ok'      => $ok,
			'message' => $message,
		);
	}
}
