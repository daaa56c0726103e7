<?php
/**
 * [liveroom_room]: a meeting room for the logged-in user.
 *
 * @package Liveroom
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

/**
 * Gives each logged-in user a room with the site's agent, made through the
 * Liveroom API from PHP (the key never reaches the browser). The room id is
 * derived from the user, the page and the schedule, so every view of the page
 * in the room's window reuses the same room instead of making a new one; the
 * room's links are kept in the user's meta until its window ends.
 */
final class Liveroom_Room {

	const META = 'liveroom_rooms';

	/**
	 * How long a room without a schedule is reused.
	 */
	const UNSCHEDULED_TTL = DAY_IN_SECONDS;

	/**
	 * Hooks the shortcode and the block.
	 */
	public static function register(): void {
		add_shortcode( 'liveroom_room', array( __CLASS__, 'shortcode' ) );
		register_block_type(
			LIVEROOM_DIR . 'blocks/room',
			array( 'render_callback' => array( __CLASS__, 'render_block' ) )
		);
	}

	/**
	 * Renders the block.
	 *
	 * @param array $attributes Block attributes.
	 */
	public static function render_block( $attributes ): string {
		$attributes = is_array( $attributes ) ? $attributes : array();
		return self::shortcode(
			array(
				'start'    => (string) ( $attributes['start'] ?? '' ),
				'duration' => (string) ( $attributes['duration'] ?? '' ),
				'embed'    => (string) ( $attributes['embed'] ?? '' ),
				'height'   => (string) ( $attributes['height'] ?? '' ),
			)
		);
	}

	/**
	 * [liveroom_room start="2030-05-01 09:00" duration="30" embed="yes|no" height="640"]
	 *
	 * The start time is in the site's time zone; duration is in minutes.
	 *
	 * @param array|string $atts Shortcode attributes.
	 */
	public static function shortcode( $atts ): string {
		$atts = shortcode_atts(
			array(
				'start'    => '',
				'duration' => '',
				'embed'    => '',
				'height'   => '640',
			),
			is_array( $atts ) ? $atts : array(),
			'liveroom_room'
		);
		if ( ! is_user_logged_in() ) {
			$login = wp_login_url( (string) get_permalink() );
			return self::box(
				'login',
				sprintf(
					/* translators: %s: login link. */
					esc_html__( 'Please %s to get your meeting room.', 'liveroom' ),
					'<a href="' . esc_url( $login ) . '">' . esc_html__( 'log in', 'liveroom' ) . '</a>'
				)
			);
		}
		$api = Liveroom_API::from_options();
		if ( ! $api->configured() ) {
			return current_user_can( 'manage_options' )
				? self::box( 'unconfigured', esc_html__( 'Liveroom is not set up yet: enter the server URL and API key under Settings → Liveroom.', 'liveroom' ) )
				: self::box( 'unavailable', esc_html__( 'The meeting room is not available right now.', 'liveroom' ) );
		}

		$schedule = self::schedule( (string) $atts['start'], (string) $atts['duration'] );
		if ( is_string( $schedule ) ) {
			return self::box( 'invalid', esc_html( $schedule ) );
		}
		$room = self::room_for( wp_get_current_user(), (int) get_the_ID(), $schedule, $api );
		if ( null === $room ) {
			return self::box( 'unavailable', esc_html__( 'The meeting room is not available right now; please try again in a few minutes.', 'liveroom' ) );
		}

		$o     = Liveroom_Options::get();
		$embed = '' === $atts['embed'] ? ! empty( $o['room_embed'] ) : in_array( strtolower( (string) $atts['embed'] ), array( 'yes', '1', 'true' ), true );
		$url   = (string) $room['visitorUrl'];
		$html  = '<div class="liveroom-room" data-room-id="' . esc_attr( $room['id'] ) . '">';
		if ( ! empty( $room['startsAtMs'] ) ) {
			$html .= '<p class="liveroom-room-when">' . esc_html(
				sprintf(
					/* translators: 1: start date and time, 2: end time. */
					__( 'Your meeting: %1$s to %2$s', 'liveroom' ),
					wp_date( get_option( 'date_format' ) . ' ' . get_option( 'time_format' ), intdiv( (int) $room['startsAtMs'], 1000 ) ),
					wp_date( get_option( 'time_format' ), intdiv( (int) $room['endsAtMs'], 1000 ) )
				)
			) . '</p>';
		}
		if ( $embed ) {
			$height = max( 320, min( 2000, absint( $atts['height'] ) ) );
			$html  .= '<iframe class="liveroom-room-frame" src="' . esc_url( $url ) . '" title="' . esc_attr__( 'Meeting room', 'liveroom' ) . '"'
				. ' allow="camera; microphone; display-capture; fullscreen; autoplay" style="width:100%;height:' . esc_attr( (string) $height ) . 'px;border:0"></iframe>';
		}
		$html .= '<p><a class="liveroom-room-link" href="' . esc_url( $url ) . '" target="_blank" rel="noopener">'
			. ( $embed ? esc_html__( 'Open the room in a new tab', 'liveroom' ) : esc_html__( 'Enter your meeting room', 'liveroom' ) ) . '</a></p>';
		return $html . '</div>';
	}

	/**
	 * Parses the schedule.
	 *
	 * @param string $start    Start in the site's time zone, or ''.
	 * @param string $duration Minutes, or ''.
	 * @return array{start:?DateTimeImmutable, minutes:int}|string A schedule, or what is wrong with it.
	 */
	private static function schedule( string $start, string $duration ) {
		$minutes = '' === trim( $duration ) ? 0 : absint( $duration );
		if ( $minutes > 44640 ) {
			return __( 'Meeting room: the duration must be at most 31 days (44640 minutes).', 'liveroom' );
		}
		$when = null;
		if ( '' !== trim( $start ) ) {
			try {
				$when = new DateTimeImmutable( trim( $start ), wp_timezone() );
			} catch ( Exception $e ) {
				return __( 'Meeting room: the start time must look like 2030-05-01 09:00.', 'liveroom' );
			}
			if ( 0 === $minutes ) {
				$minutes = 60;
			}
		}
		return array(
			'start'   => $when,
			'minutes' => $minutes,
		);
	}

	/**
	 * The user's room for this page and schedule: the one made before while
	 * its window lasts, else a new one. Null when the server cannot be reached
	 * or refuses.
	 *
	 * @param WP_User      $user     The logged-in user.
	 * @param int          $post_id  The page.
	 * @param array        $schedule From schedule().
	 * @param Liveroom_API $api      The API client.
	 * @return array|null
	 */
	private static function room_for( WP_User $user, int $post_id, array $schedule, Liveroom_API $api ): ?array {
		$start = $schedule['start'] ? $schedule['start']->format( DATE_RFC3339 ) : '';
		// Unscheduled rooms are made afresh each day (in the site's time zone).
		$period = '' === $start ? wp_date( 'Y-m-d' ) : $start;
		$slot   = $post_id . '|' . $period . '|' . $schedule['minutes'];
		$now    = time();

		$rooms = get_user_meta( $user->ID, self::META, true );
		$rooms = is_array( $rooms ) ? $rooms : array();
		foreach ( $rooms as $k => $r ) {
			if ( ! is_array( $r ) || (int) ( $r['keepUntil'] ?? 0 ) < $now ) {
				unset( $rooms[ $k ] );
			}
		}
		$key = md5( $slot );
		if ( isset( $rooms[ $key ] ) ) {
			return $rooms[ $key ];
		}

		// The same id for the same user, page and window: a second request
		// (another tab, a lost meta write) finds the room instead of a twin.
		$id   = 'wp-' . substr( hash_hmac( 'sha256', $user->ID . '|' . $slot, wp_salt( 'auth' ) ), 0, 24 );
		$body = array(
			'id'          => $id,
			'visitorName' => mb_substr( $user->display_name, 0, 64 ),
		);
		if ( '' !== $start ) {
			$body['startsAt'] = $start;
		}
		if ( $schedule['minutes'] > 0 ) {
			$body['durationMinutes'] = $schedule['minutes'];
		}
		$res = $api->request( 'POST', '/api/v1/rooms', $body );
		if ( ! is_wp_error( $res ) && 409 === $res['status'] && 'room_exists' === Liveroom_API::error_code( $res ) ) {
			$res = $api->request( 'GET', '/api/v1/rooms/' . rawurlencode( $id ) );
		}
		if ( is_wp_error( $res ) || ! in_array( $res['status'], array( 200, 201 ), true ) || ! is_array( $res['body'] ) || empty( $res['body']['visitorUrl'] ) ) {
			return null;
		}
		$b    = $res['body'];
		$room = array(
			'id'         => (string) $b['id'],
			'visitorUrl' => (string) $b['visitorUrl'],
			'startsAtMs' => (int) ( $b['startsAtMs'] ?? 0 ),
			'endsAtMs'   => (int) ( $b['endsAtMs'] ?? 0 ),
			'keepUntil'  => ! empty( $b['endsAtMs'] ) ? intdiv( (int) $b['endsAtMs'], 1000 ) : $now + self::UNSCHEDULED_TTL,
		);
		// The agent link is not kept: this page is for the visitor.
		$rooms[ $key ] = $room;
		update_user_meta( $user->ID, self::META, $rooms );
		return $room;
	}

	/**
	 * A short notice in place of the room.
	 *
	 * @param string $state    What it is about (for styling and tests).
	 * @param string $html_msg Escaped message HTML.
	 */
	private static function box( string $state, string $html_msg ): string {
		return '<div class="liveroom-room liveroom-notice" data-state="' . esc_attr( $state ) . '"><p>' . $html_msg . '</p></div>';
	}
}
